"""The training recipes in recipes/: what they would run parses with the real option parsers.

Each recipe is run in its print mode (as a subprocess, nothing is trained and no dataset is
needed); the train.py command it prints goes through TrainOptions and the loss's own option
checks, the evaluate.py command through evaluate.py's model-mode parser. Every option must be
spelled exactly as the parser has it (argparse would otherwise accept a prefix such as
``--lambda_vg``), and each plan states the expected numbers.

The paper's settings are pinned by comparing the *whole* parsed option set of each command with
an expected one: the tables below, written here independently of the recipes, give the options
the papers fix (and the recipe's own run options), and every other option must be the parser's
default for the dataset. Any value a recipe changes or adds fails.
"""
import functools
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
TAP_WEIGHTS = '1/32,1/16,1/8,1/4,1'

# recipe: (--dataset_mode, the recipe's default --dataroot, GPUs by default)
RECIPES = {
    'ade20k': ('ade20k', 'datasets/ADEChallengeData2016', 4),
    'celebahq': ('celebahq', 'datasets/CelebAMask-HQ', 4),
    'deepfashion': ('deepfashion', 'datasets/DeepFashion', 4),
    'cityscapes': ('cityscapes', 'datasets/cityscapes', 8),
    'coco': ('coco', 'datasets/coco_stuff', 8),
}
# what the papers fix for each dataset (recipes/README.md, "Training settings"): global batch and
# epochs (MoNCE supplementary sec. 2; SPADE for Cityscapes and COCO-Stuff) and --lambda_vgg of the
# contrastive losses (the released scripts; the assumed values where there is none)
DATASET_SETTINGS = {
    'ade20k': dict(batchSize=20, niter=100, niter_decay=100),
    'celebahq': dict(batchSize=20, niter=30, niter_decay=30),
    'deepfashion': dict(batchSize=20, niter=50, niter_decay=50),
    'cityscapes': dict(batchSize=32, niter=100, niter_decay=100),
    'coco': dict(batchSize=32, niter=50, niter_decay=50),
}
CONTRASTIVE_LAMBDA = {'ade20k': 50.0, 'celebahq': 100.0, 'deepfashion': 100.0, 'cityscapes': 50.0, 'coco': 50.0}
# SPADE's training, left as SPADE has it in every configuration (fp32, no EMA, no VAE, no MLP head)
SPADE_TRAINING = dict(lr=0.0002, beta1=0.0, beta2=0.9, gan_mode='hinge', lambda_feat=10.0, no_TTUR=False,
                      no_ganFeat_loss=False, no_vgg_loss=False, netG='spade', netD='multiscale', use_vae=False,
                      amp='none', ema=False, vgg_weights='imagenet')
PATCHNCE = dict(perceptual_loss='patchnce', vgg_layers=PAPER_TAPS, vgg_layer_weights=TAP_WEIGHTS, num_patches=256,
                nce_T=0.07, nce_mlp=False)
# each configuration's loss: SPADE's VGG loss, and the paper's best paired contrastive settings
LOSSES = {
    'vgg': dict(perceptual_loss='vgg', lambda_vgg=10.0, vgg_layers=SPADE_TAPS, vgg_layer_weights=TAP_WEIGHTS),
    'patchnce': PATCHNCE,
    'weightnce': dict(PATCHNCE, perceptual_loss='weightnce', weight_mode='easy', weight_beta=0.1,
                      neg_term_weight=1.0),
    'monce': dict(PATCHNCE, perceptual_loss='monce', nce_modulated_layers='all', ot_cost='easy', ot_eps=0.1,
                  neg_term_weight=1.0, monce_preset='none'),
}
# OFFICIAL=1: the released paired MoNCE code's loss settings
RELEASED_MONCE = dict(monce_preset='official', vgg_layers=SPADE_TAPS, nce_modulated_layers='relu5_1', ot_eps=1.0,
                      ot_cost='hard', neg_weight_total=128.0, nce_modulate_positive=True, nce_weight_floor=1e-8,
                      sinkhorn_iters=50, sinkhorn_tol=0.0)
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


@functools.lru_cache(maxsize=None)
def parser_defaults(program: str, dataset_mode: str) -> tuple:
    """Every option of ``program`` at the parser's default for the dataset, as (name, value) pairs."""
    if program == 'train.py':
        opt = TrainOptions().parse(['--dataset_mode', dataset_mode], verbose=False)
    else:
        opt = evaluate.EvaluateOptions().parse(['--dataset_mode', dataset_mode], verbose=False)
    return tuple(sorted(vars(opt).items()))


def expected_options(program: str, dataset_mode: str, table: dict) -> dict:
    """The parser's defaults for the dataset with ``table``'s options set."""
    defaults = dict(parser_defaults(program, dataset_mode))
    misspelt = sorted(set(table) - set(defaults))
    assert not misspelt, f'{program} has no options {misspelt}: fix the table'
    return {**defaults, **table, 'dataset_mode': dataset_mode}


def expected_train(recipe: str, config: str, **given) -> dict:
    """What a recipe's train.py command must parse to: the paper's table, the recipe's run options
    (and ``given``, what the test changed), SPADE's defaults for everything else."""
    mode, dataroot, _ = RECIPES[recipe]
    table = {**SPADE_TRAINING, **DATASET_SETTINGS[recipe], **LOSSES[config]}
    if config != 'vgg':
        table['lambda_vgg'] = CONTRASTIVE_LAMBDA[recipe]
    table.update({'name': f'{recipe}_{config}', 'dataroot': dataroot, 'nThreads': 4, **given})
    return expected_options('train.py', mode, table)


def expected_evaluate(recipe: str, config: str, **given) -> dict:
    """What a recipe's evaluate.py command must parse to: the run and its test split, with the
    ADE20K segmenter's weights where mIoU is measured."""
    mode, dataroot, _ = RECIPES[recipe]
    table = dict(name=f'{recipe}_{config}', dataroot=dataroot, phase='test', which_epoch='latest')
    if recipe == 'ade20k':
        table['seg_weights'] = 'ckpt/ade20k-resnet101-upernet'
    return expected_options('evaluate.py', mode, {**table, **given})


def mismatches(opt, expected: dict) -> dict:
    """name -> (parsed, expected) for every option that differs."""
    parsed = vars(opt)
    return {name: (parsed.get(name, '(missing)'), expected.get(name, '(unexpected)'))
            for name in sorted(set(parsed) | set(expected)) if parsed.get(name) != expected.get(name)}


def assert_options(opt, expected: dict, what: str) -> None:
    differ = mismatches(opt, expected)
    assert not differ, f'{what}: options not as expected, (parsed, expected): {differ}'


@pytest.fixture(scope='module')
def printed():
    """Every recipe's four plans, printed once with the default environment."""
    return {recipe: plans(run_recipe(recipe, 'all', '--print').stdout) for recipe in RECIPES}


def with_dataroot(tokens, value):
    index = tokens.index('--dataroot') + 1
    return tokens[:index] + [value] + tokens[index + 1:]


@pytest.mark.parametrize('recipe', sorted(RECIPES))
def test_each_recipe_prints_four_plans_and_dry_run_is_the_print_mode(recipe, printed):
    assert sorted(printed[recipe]) == sorted(CONFIGS)
    # DRY_RUN=1 prints the same plan and runs nothing, also where the dataset is missing
    plan = plans(run_recipe(recipe, 'monce', DRY_RUN='1', DATAROOT='/nonexistent/data').stdout)['monce']
    assert plan['train'] == with_dataroot(printed[recipe]['monce']['train'], '/nonexistent/data')
    assert plan['evaluate'] == with_dataroot(printed[recipe]['monce']['evaluate'], '/nonexistent/data')


@pytest.mark.parametrize('recipe', sorted(RECIPES))
def test_recipe_commands_parse_to_the_expected_options(recipe, printed):
    gpus = RECIPES[recipe][2]
    for config, plan in printed[recipe].items():
        launcher, train_argv = after(plan['train'], 'train.py')
        assert os.path.basename(launcher[0]) == 'torchrun' and launcher[launcher.index('--nproc_per_node') + 1] == \
            str(gpus), launcher
        opt = parse_train(train_argv)
        assert opt.batchSize % gpus == 0
        assert_options(opt, expected_train(recipe, config), f'recipes/{recipe}.sh {config}: train.py')
        eval_opt = parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1])
        assert_options(eval_opt, expected_evaluate(recipe, config), f'recipes/{recipe}.sh {config}: evaluate.py')


@pytest.mark.parametrize('recipe', sorted(RECIPES))
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
    run = dict(name='run 1', dataroot='/d a/ade', checkpoints_dir='/tmp/ck')
    assert_options(parse_train(train_argv), expected_train('ade20k', 'monce', gpu_ids=[0], batchSize=12, amp='bf16',
                                                           vgg_weights='/w/vgg19.pth', **run), 'one GPU')
    assert_options(parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1]),
                   expected_evaluate('ade20k', 'monce', seg_weights='/w/seg', fid_weights='/w/inception.pth', **run),
                   'one GPU')

    # with --evaluate the options after -- are evaluate.py's; --print still runs nothing
    result = run_recipe('celebahq', 'vgg', '--evaluate', '--print', '--', '--how_many', '5')
    plan = plans(result.stdout)['vgg']
    assert 'running:' not in result.stdout
    assert_options(parse_train(after(plan['train'], 'train.py')[1]), expected_train('celebahq', 'vgg'), '--evaluate')
    assert_options(parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1]),
                   expected_evaluate('celebahq', 'vgg', how_many=5), '--evaluate')

    official = plans(run_recipe('ade20k', 'monce', '--print', OFFICIAL='1').stdout)['monce']
    assert_options(parse_train(after(official['train'], 'train.py')[1]),
                   expected_train('ade20k', 'monce', name='ade20k_monce_official', **RELEASED_MONCE), 'OFFICIAL=1')
    assert 'not reported' in official['expected']


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
    plan = mutated_plan(tmp_path, file, original, mutated)
    with pytest.raises((OptionError, AssertionError), match=re.escape(error)):
        if program == 'train.py':
            parse_train(after(plan['train'], 'train.py')[1])
        else:
            parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1])


def mutated_plan(tmp_path, file: str, original: str, mutated: str) -> dict:
    """ADE20K's monce plan, printed by a copy of recipes/ with ``original`` replaced in ``file``."""
    recipes = tmp_path / 'recipes'
    shutil.copytree(RECIPES_DIR, recipes)
    text = (recipes / file).read_text()
    assert text.count(original) == 1, f'{original} should occur once in recipes/{file}'
    (recipes / file).write_text(text.replace(original, mutated))
    return plans(run_recipe('ade20k', 'monce', '--print', recipes_dir=str(recipes)).stdout)['monce']


@pytest.mark.parametrize('file, original, mutated, option', [
    ('_lib.sh', '--nce_T 0.07 --nce_modulated_layers', '--nce_T 0.7 --nce_modulated_layers', 'nce_T'),  # MoNCE's
    ('_lib.sh', '--ot_eps 0.1', '--ot_eps 1', 'ot_eps'),
    ('ade20k.sh', 'LAMBDA_CONTRASTIVE=50', 'LAMBDA_CONTRASTIVE=10', 'lambda_vgg'),
    ('ade20k.sh', 'BATCH_DEFAULT=20', 'BATCH_DEFAULT=40', 'batchSize'),
    ('ade20k.sh', 'NITER_DECAY=100', 'NITER_DECAY=50', 'niter_decay'),
    # an option the recipes leave at SPADE's default, added
    ('_lib.sh', '--nThreads "${NTHREADS:-4}")', '--nThreads "${NTHREADS:-4}" --lr 0.0004)', 'lr'),
    ('_lib.sh', 'EVAL_CMD=("$python" evaluate.py model "${common[@]}")',
     'EVAL_CMD=("$python" evaluate.py model "${common[@]}" --how_many 100)', 'how_many'),
])
def test_a_recipe_with_another_value_fails(tmp_path, file, original, mutated, option):
    """Values that parse but are not the paper's are caught, each by the option it changed."""
    plan = mutated_plan(tmp_path, file, original, mutated)
    train = mismatches(parse_train(after(plan['train'], 'train.py')[1]), expected_train('ade20k', 'monce'))
    evaluation = mismatches(parse_evaluate(after(plan['evaluate'], 'evaluate.py')[1]),
                            expected_evaluate('ade20k', 'monce'))
    assert list(train) + list(evaluation) == [option], (train, evaluation)
