"""The toy study (--quick) that the study's tests run and read: one command, the files it writes."""
import json
import os
import shutil
import subprocess
import sys

from experiments.study_worker import STATUS_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'experiments', 'loss_study.py')
EPOCHS = 5  # --quick trains 3 + 2 epochs of one iteration
BOOM = "--config=boom=--perceptual_loss vgg --max_loss 1e-12"  # diverges at once: must still be reported
SHARED = ('--configs', 'vgg,patchnce', BOOM, '--seeds', '0,1', '--jobs', '2', '--threads', '1')  # the shared study


def study(out, *args, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, SCRIPT, '--quick', '--out', str(out), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, **kwargs)


def status(out, name) -> dict:
    with open(os.path.join(out, 'runs', name, STATUS_FILE)) as f:
        return json.load(f)


def copy_of(out, where) -> str:
    """A copy of a study folder, for a test that changes it (the shared one stays as trained)."""
    target = os.path.join(str(where), 'study')
    shutil.copytree(str(out), target)
    return target
