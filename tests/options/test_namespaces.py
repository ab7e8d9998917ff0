"""Every command's namespace holds every option its code reads, each shared option is defined
once, and no code guards against a missing option with ``getattr(opt, name, default)``."""
import ast
import os
import subprocess

import pytest

from evaluation.options import eval_frequency, settings_from_opt
from inference.export import ExportOptions, ModelSpec
from options.groups import SPADE_NO_OP
from options.test_options import TestOptions, torch_only
from options.train_options import TrainOptions
from util.precision import Precision

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PRECISION = ('amp', 'channels_last')
CHECKPOINT = ('which_epoch',)
GENERATOR_CHOICE = CHECKPOINT + ('no_ema',)
EVALUATION = ('fid_weights', 'fid_dims', 'fid_cache_dir', 'seg_weights', 'seg_scales', 'swd_seed', 'eval_batch_size',
              'metrics')
SPADE_NO_OPS = ('no_html', 'tf_log', 'optimizer', 'netD_subarch')
INFERENCE = PRECISION + GENERATOR_CHOICE + EVALUATION + ('backend', 'write_threads', 'how_many', 'results_dir',
                                                         'preprocess_fix', 'dataset_mode')
READS = {
    'train.py': PRECISION + CHECKPOINT + EVALUATION + SPADE_NO_OPS + ('eval_freq', 'eval_num', 'preprocess_fix'),
    'test.py': INFERENCE,
    'evaluate.py model': INFERENCE + ('out',),
    'evaluate.py folders': EVALUATION + ('fake_dir', 'real_dir', 'label_dir', 'dataset_mode', 'gpu_ids', 'out'),
    'export.py': GENERATOR_CHOICE + ('dataset_mode', 'format', 'output', 'opset', 'batch_check', 'tolerance'),
    'app.py': INFERENCE + ('port', 'quiet'),
}


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """A run folder as export.py and app.py find it: opt.json and a generator file."""
    root = tmp_path_factory.mktemp('runs')
    TrainOptions().parse(['--gpu_ids', '-1', '--name', 'run', '--checkpoints_dir', str(root)], save=True,
                         verbose=False)
    (root / 'run' / 'latest_net_G.pth').write_bytes(b'')  # parsing only looks for the file
    return ['--name', 'run', '--checkpoints_dir', str(root)]


def parse_command(command, run):
    import app
    import evaluate
    from painter.engine import parse_options
    cpu = ['--gpu_ids', '-1']
    if command == 'train.py':
        return TrainOptions().parse(cpu, verbose=False)
    if command == 'test.py':
        return TestOptions().parse(cpu, verbose=False)
    if command == 'evaluate.py model':
        return evaluate.EvaluateOptions().parse(cpu, verbose=False)
    if command == 'evaluate.py folders':
        argv = ['--fake_dir', 'fake', '--real_dir', 'real']
        return evaluate.folder_parser(argv).parse_args(argv)
    if command == 'export.py':
        return ExportOptions().parse(run, verbose=False)
    return parse_options(run + cpu, app.AppOptions())


@pytest.mark.parametrize('command', list(READS))
def test_each_command_s_minimal_command_line_gives_every_option_its_code_reads(command, run):
    opt = parse_command(command, run)
    assert [name for name in READS[command] if not hasattr(opt, name)] == []
    # the readers of the shared groups take the namespace as it is
    if 'amp' in READS[command]:
        assert Precision.of(opt) == Precision()
    if 'metrics' in READS[command]:
        assert settings_from_opt(opt).metrics is None
    if command == 'train.py':
        assert not eval_frequency(opt).enabled
    if 'backend' in READS[command]:
        assert torch_only(opt) is None
    if command == 'export.py':
        assert ModelSpec.from_opt(opt).channels == opt.semantic_nc


def python_sources():
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '*.py'], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    return [f for f in files if not f.startswith(('tests/', '.venv/')) and os.path.exists(os.path.join(REPO, f))]


def option_namespace(node: ast.expr) -> bool:
    """``opt``, ``self.opt``, ``train_opt``, ``seen``...: a name that holds parsed options."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, 'id', '')
    return name in ('opt', 'seen', 'args') or name.endswith('_opt')


def test_no_code_defaults_an_option_that_might_be_missing():
    guarded = []
    for path in python_sources():
        tree = ast.parse(open(os.path.join(REPO, path)).read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args and \
                    option_namespace(node.args[0]) and \
                    ((node.func.id == 'getattr' and len(node.args) == 3) or node.func.id == 'hasattr'):
                guarded.append(f'{path}:{node.lineno}')
    assert guarded == []


@pytest.mark.parametrize('option', ['--amp', '--channels_last', '--which_epoch', '--no_ema'])
def test_each_shared_option_is_defined_once(option):
    # the benchmarks' own flags (bench/) are translated into these commands' options
    definitions = [path for path in python_sources() if not path.startswith('bench/')
                   for line in open(os.path.join(REPO, path)) if f"add_argument('{option}'" in line]
    assert len(definitions) == 1, definitions


def test_spade_no_op_options_are_accepted_and_say_so_in_one_place():
    argv = ['--gpu_ids', '-1', '--no_html', '--tf_log', '--optimizer', 'adam', '--netD_subarch', 'n_layer']
    options = TrainOptions()
    opt = options.parse(argv, verbose=False)
    assert (opt.no_html, opt.tf_log, opt.optimizer, opt.netD_subarch) == (True, True, 'adam', 'n_layer')
    helps = {action.dest: action.help for action in options.parser._actions}
    assert all(helps[name].startswith(SPADE_NO_OP + ': ') for name in SPADE_NO_OPS)
    readme = open(os.path.join(REPO, 'README.md')).read()
    training = readme[readme.index('\n## Training'):readme.index('\n## Inference')]
    assert all(f'--{name}' in training for name in SPADE_NO_OPS)
