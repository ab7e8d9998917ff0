"""The option layer stays light: declaring options, asking for --help and training without
--eval_freq never load pytorch-fid, mit-semseg or the modules that compute metrics. Each case
runs in a fresh interpreter, since this test session has imported everything already."""
import json
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
METRIC_STACK = ('pytorch_fid', 'mit_semseg', 'evaluation.fid', 'evaluation.fid_cache', 'evaluation.suite',
                'evaluation.segmenters', 'evaluation.generator_eval', 'evaluation.run')
MARK = 'LOADED='
PROBE = '''
import json, runpy, sys
sys.argv = {argv!r}
status = 0
try:
    {action}
except SystemExit as exit:
    status = exit.code or 0
print({mark!r} + json.dumps([status, sorted(sys.modules)]))
'''


def metric_modules_loaded(action: str, argv: Sequence[str] = ()) -> list[str]:
    """The metric modules a fresh interpreter holds after ``action`` (which must succeed)."""
    code = PROBE.format(argv=['probe', *argv], action=action, mark=MARK)
    done = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    status, modules = json.loads(done.stdout.strip().splitlines()[-1].removeprefix(MARK))
    assert status == 0, done.stderr[-3000:]
    return [name for name in modules if name.split('.')[0] in METRIC_STACK or name.startswith(METRIC_STACK)]


def script(name: str) -> str:
    return f"runpy.run_path({name!r}, run_name='__main__')"


def tiny_training(root: Path) -> list[str]:
    return ['--name', 'run', '--checkpoints_dir', str(root), '--gpu_ids', '-1', '--crop_size', '32', '--load_size',
            '32', '--ngf', '4', '--norm_G', 'spectralspadebatch3x3', '--ndf', '8', '--num_D', '1', '--n_layers_D',
            '2', '--batchSize', '2', '--synthetic_train_size', '2', '--niter', '1', '--no_vgg_loss']


@pytest.mark.parametrize('action, argv', [
    ('import options.train_options, options.test_options, evaluation.options', []),
    (script('train.py'), ['--help']),
    (script('test.py'), ['--help']),
    (script('evaluate.py'), ['--help']),
    (script('evaluate.py'), ['model', '--help']),
    (script('evaluate.py'), ['folders', '--help']),
    ('import trainers.loop', []),
], ids=['option classes', 'train.py --help', 'test.py --help', 'evaluate.py --help', 'evaluate.py model --help',
        'evaluate.py folders --help', 'import trainers.loop'])
def test_options_and_help_do_not_load_the_metric_stack(action, argv):
    assert metric_modules_loaded(action, argv) == []


def test_training_without_eval_freq_does_not_load_the_metric_stack(tmp_path):
    assert metric_modules_loaded(script('train.py'), tiny_training(tmp_path)) == []
    assert (tmp_path / 'run' / 'latest_net_G.pth').is_file()  # it did train


def test_the_probe_sees_the_metric_stack_when_it_is_loaded():
    # otherwise the tests above would pass whatever was imported
    assert 'evaluation.segmenters' in metric_modules_loaded('import evaluation.segmenters')
