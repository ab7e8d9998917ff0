"""The training recipes in recipes/: what they would run parses with the real option parsers.

Each recipe is run in its print mode (as a subprocess, nothing is trained and no dataset is
needed); the train.py command it prints goes through TrainOptions and the loss's own option
checks, the evaluate.py command through evaluate.py's model-mode parser. Every option must be
spelled exactly as the parser has it (argparse would otherwise accept a prefix such as
``--lambda_vg``), the paper's settings are pinned, and each plan states the expected numbers.
"""
import os
import re
import shlex
import shutil
import subprocess

import pytest

import evaluate
from models.networks import perceptual
from options.train_options import TrainOptions
from util.errors import OptionError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES_DIR = os.path.join(REPO, 'recipes')
CONFIGS = ('vgg', 'patchnce', 'weightnce', 'monce')
PAPER_TAPS = 'relu1_2,relu2_2,relu3_2,relu4_2,relu5_2'
SPADE_TAPS = 'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1'

# recipe: (--dataset_mode, global batch, GPUs by default, epochs, --lambda_vgg of the contrastive losses)
SETTINGS = {
    'ade20k': ('ade20k', 20, 4, 200, 50.0),
    'celebahq': ('celebahq', 20, 4, 60, 100.0),
    'deepfashion': ('deepfashion', 20, 4, 100, 100.0),
    'cityscapes': ('cityscapes', 32, 8, 200, 50.0),
    'coco': ('coco', 32, 8, 100, 50.0),
}
# numbers a plan must print (the paper's; every other plan says what is not reported)
EXPECTED = {
    ('ade20k', 'vgg'): ('FID 33.9', 'mIoU 38.5', 'accuracy 79.9'),
    ('ade20k', 'patchnce'): ('FID 33.42',),
    ('ade20k', 'weightnce'): ('FID 32.47',),
    ('ade20k', 'monce'): ('FID 31.62',),
    ('cityscapes', 'vgg'): ('FID 71.8', 'mIoU 62.3', 'accuracy 81.9'),
    ('coco', 'vgg'): ('FID 22.6', 'mIoU 37.4', 'accuracy 67.9'),
}
# the recipes read these; the test must not inherit them from whoever runs it
RECIPE_ENV = ('DATAROOT', 'GPUS', 'BATCH', 'NAME', 'CHECKPOINTS_DIR', 'VGG_WEIGHTS', 'LAMBDA_VGG', 'NTHREADS',
              'OFFICIAL', 'FID_WEIGHTS', 'SEG_WEIGHTS', 'PYTHON', 'TORCHRUN', 'DRY_RUN')


def run_recipe(script, *args, recipes_dir=RECIPES_DIR, check=True, **env):
    environ = {k: v for k, v in os.environ.items() if k not in RECIPE_ENV}
    environ.update(env)
    result = subprocess.run(['bash', os.path.join(recipes_dir, f'{script}.sh'), *args], capture_output=True,
                            text=True, env=environ, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def plans(output):
    """The plans a recipe printed, by configuration: header, expected numbers and both commands."""
    found = {}
    for block in re.split(r'\n(?=== )', output.strip()):
        header = re.match(r'== .* \[recipes/\w+\.sh (\w+)\] ==', block)
        assert header, f'no plan header in:\n{block}'
        lines = block.splitlines()
        expected = []
        for line in lines[lines.index('expected (paper):') + 1:]:
            if not line.startswith('  '):
                break
            expected.append(line.strip())
        commands = {line.split(':', 1)[0]: shlex.split(line.split(':', 1)[1]) for line in lines
                    if line.startswith(('train:', 'evaluate:'))}
        found[header.group(1)] = dict(text=block, expected=' '.join(expected), train=commands['train'],
                                      evaluate=commands['evaluate'])
    return found


def after(tokens, program):
    """The arguments given to ``program`` (train.py, evaluate.py) in a command line."""
    index = next(i for i, token in enumerate(tokens) if os.path.basename(token) == program)
    return tokens[:index], tokens[index + 1:]


def options_given(argv):
    return [arg.split('=', 1)[0] for arg in argv if arg.startswith('--')]


def assert_exact_names(argv, parser, program):
    known = set(evaluate.option_strings(parser))
    inexact = [name for name in options_given(argv) if name not in known]
    assert not inexact, f'{program}: {inexact} not spelled as the parser has them'


def parse_train(argv):
    options = TrainOptions()
    opt = options.parse(argv, verbose=False)
    assert_exact_names(argv, options.parser, 'train.py')
    perceptual.validate_options(opt)  # what the loss checks when it is built (tap names, weights, ...)
    return opt


def parse_evaluate(argv):
    mode, args, _ = evaluate.choose_mode(argv)
    assert mode == evaluate.MODEL
    options = evaluate.EvaluateOptions()
    opt = options.parse(args, verbose=False)
    assert_exact_names(args, options.parser, 'evaluate.py model')
    return opt


@pytest.fixture(scope='module')
def printed():
    """Every recipe's four plans, printed once with the default environment."""
    return {recipe: plans(run_recipe(recipe, 'all', '--print').stdout) for recipe in SETTINGS}


def with_dataroot(tokens, value):
    index = tokens.index('--dataroot') + 1
    return tokens[:index] + [value] + tokens[index + 1:]


@pytest.mark.parametrize('recipe', sorted(SETTINGS))
def test_each_recipe_prints_four_plans_and_dry_run_is_the_print_mode(recipe, printed):
    assert sorted(printed[recipe]) == sorted(CONFIGS)
    # DRY_RUN=1 prints the same plan and runs nothing, also where the dataset is missing
    plan = plans(run_recipe(recipe, 'monce', DRY_RUN='1', DATAROOT='/nonexistent/data').stdout)['monce']
    assert plan['train'] == with_dataroot(printed[recipe]['monce']['train'], '/nonexistent/data')
    assert plan['evaluate'] == with_dataroot(printed[recipe]['monce']['evaluate'], '/nonexistent/data')


@pytest.mark.parametrize('recipe', sorted(SETTINGS))
def test_recipe_commands_parse_with_the_real_parsers(recipe, printed):
    mode, batch, gpus, epochs, contrastive_lambda = SETTINGS[recipe]
    for config, plan in printed[recipe].items():
        launcher, train_argv = after(plan['train'], 'train.py')
        assert os.path.basename(launcher[0]) == 'torchrun' and launcher[launcher.index('--nproc_per_node') + 1] == \
            str(gpus), launcher
        opt = parse_train(train_argv)
        assert opt.perceptual_loss == config and opt.dataset_mode == mode and opt.name == f'{recipe}_{config}'
        assert opt.batchSize == batch and opt.batchSize % gpus == 0
        assert opt.niter + opt.niter_decay == epochs and opt.niter == opt.niter_decay
        assert opt.lambda_vgg == (10.0 if config == 'vgg' else contrastive_lambda)
        assert opt.vgg_layers == (SPADE_TAPS if config == 'vgg' else PAPER_TAPS)
        assert opt.vgg_layer_weights == '1/32,1/16,1/8,1/4,1' and opt.vgg_weights == 'imagenet'
        # SPADE's training settings are left as SPADE has them
        assert (opt.lr, opt.beta1, opt.beta2, opt.gan_mode, opt.lambda_feat, opt.no_TTUR) == \
               (0.0002, 0.0, 0.9, 'hinge', 10.0, False)
        assert (opt.amp, opt.ema, opt.use_vae, opt.nce_mlp) == ('none', False, False, False)
        if config == 'weightnce':
            assert (opt.weight_mode, opt.weight_beta, opt.neg_term_weight) == ('easy', 0.1, 1.0)
        if config == 'monce':
            assert (opt.ot_cost, opt.ot_eps, opt.neg_term_weight, opt.nce_modulated_layers, opt.monce_preset) == \
                   ('easy', 0.1, 1.0, 'all', 'none')

        eval_opt = parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1])
        for name in ('name', 'dataset_mode', 'dataroot', 'checkpoints_dir'):
            assert getattr(eval_opt, name) == getattr(opt, name), name
        assert eval_opt.phase == 'test' and eval_opt.which_epoch == 'latest'
        assert (eval_opt.seg_weights is not None) == (recipe == 'ade20k')


@pytest.mark.parametrize('recipe', sorted(SETTINGS))
def test_each_plan_states_the_expected_numbers(recipe, printed):
    for config, plan in printed[recipe].items():
        expected = plan['expected']
        assert 'FID' in expected, plan['text']
        for number in EXPECTED.get((recipe, config), ()):
            assert number in expected, (recipe, config, expected)
        if (recipe, config) not in EXPECTED:  # no number: the plan says so
            assert 'not reported' in expected or 'not recorded' in expected, (recipe, config, expected)
        assert 'measured by evaluate.py:' in plan['text']


def test_variants_one_gpu_overrides_and_the_released_preset():
    out = run_recipe('ade20k', 'monce', '--print', '--', '--amp', 'bf16', GPUS='1', BATCH='12', DATAROOT='/d a/ade',
                     NAME='run 1', CHECKPOINTS_DIR='/tmp/ck', VGG_WEIGHTS='/w/vgg19.pth', SEG_WEIGHTS='/w/seg',
                     FID_WEIGHTS='/w/inception.pth', PYTHON='python3').stdout
    plan = plans(out)['monce']
    launcher, train_argv = after(plan['train'], 'train.py')
    assert launcher == ['python3']
    opt = parse_train(train_argv)
    assert (opt.gpu_ids, opt.batchSize, opt.amp, opt.name, opt.dataroot, opt.checkpoints_dir, opt.vgg_weights) == \
           ([0], 12, 'bf16', 'run 1', '/d a/ade', '/tmp/ck', '/w/vgg19.pth')
    eval_opt = parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1])
    assert (eval_opt.name, eval_opt.seg_weights, eval_opt.fid_weights, eval_opt.checkpoints_dir) == \
           ('run 1', '/w/seg', '/w/inception.pth', '/tmp/ck')

    # with --evaluate the options after -- are evaluate.py's; --print still runs nothing
    result = run_recipe('celebahq', 'vgg', '--evaluate', '--print', '--', '--how_many', '5')
    plan = plans(result.stdout)['vgg']
    assert 'running:' not in result.stdout and '--how_many' not in plan['train']
    assert parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1]).how_many == 5

    official = plans(run_recipe('ade20k', 'monce', '--print', OFFICIAL='1').stdout)['monce']
    opt = parse_train(after(official['train'], 'train.py')[1])
    assert (opt.monce_preset, opt.vgg_layers, opt.nce_modulated_layers, opt.ot_eps, opt.ot_cost) == \
           ('official', SPADE_TAPS, 'relu5_1', 1.0, 'hard')
    assert opt.name == 'ade20k_monce_official' and 'not reported' in official['expected']


@pytest.mark.parametrize('env, args, message', [
    (dict(GPUS='8'), ('monce', '--print'), 'does not split evenly'),
    (dict(OFFICIAL='1'), ('vgg', '--print'), 'monce only'),
    ({}, ('mocne', '--print'), "unknown CONFIG 'mocne'"),
    ({}, ('all',), 'for --print only'),
    (dict(DATAROOT='/nonexistent/ade20k'), ('monce',), "dataset not found at '/nonexistent/ade20k'"),
])
def test_recipe_refuses_before_running_anything(env, args, message):
    result = run_recipe('ade20k', *args, check=False, **env)
    assert result.returncode == 2 and message in result.stderr
    assert 'running:' not in result.stdout


@pytest.mark.parametrize('file, original, mutated, program, error', [
    ('_lib.sh', '--ot_eps 0.1', '--ot_epsilon 0.1', 'train.py', 'unrecognized arguments: --ot_epsilon'),
    ('_lib.sh', '--nce_modulated_layers all', '--nce_modulated all', 'train.py', '--nce_modulated'),  # a prefix
    ('_lib.sh', '--ot_cost easy', '--ot_cost eazy', 'train.py', "invalid choice: 'eazy'"),
    ('_lib.sh', 'EVAL_CMD+=(--seg_weights', 'EVAL_CMD+=(--seg_weight', 'evaluate.py', '--seg_weight'),  # a prefix
    ('ade20k.sh', 'DATASET_MODE=ade20k', 'DATASET_MODE=ade2k', 'train.py', 'ade2k'),
])
def test_a_mutated_recipe_fails(tmp_path, file, original, mutated, program, error):
    """The check above catches a misspelt, removed or invalid option in a recipe."""
    recipes = tmp_path / 'recipes'
    shutil.copytree(RECIPES_DIR, recipes)
    text = (recipes / file).read_text()
    assert text.count(original) == 1, f'{original} should occur once in recipes/{file}'
    (recipes / file).write_text(text.replace(original, mutated))
    plan = plans(run_recipe('ade20k', 'monce', '--print', recipes_dir=str(recipes)).stdout)['monce']
    with pytest.raises((OptionError, AssertionError), match=re.escape(error)):
        if program == 'train.py':
            parse_train(after(plan['train'], 'train.py')[1])
        else:
            parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1])
