"""Multi-process runs: one start-up line saying what the run is, only rank 0 prints and warns,
errors of any rank reach the user, and a signal's exit status comes back from spawned workers."""
import os
import signal
import subprocess
import sys
import time

from test_training import REPO, tiny_args

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_process_torchrun_run_says_what_it_is_once(tmp_path):
    args = tiny_args(tmp_path, 'ddp', '--batchSize', '4', '--perceptual_loss', 'patchnce')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                           'train.py'] + args, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.count('training on 2 processes (gloo; devices cpu, cpu), global batch 4 = 2 per process, '
                     'SyncBatchNorm off (BatchNorm statistics per process)') == 1, out
    assert out.count('Network [SPADEGenerator] was created') == 1
    assert out.count('Training was successfully finished.') == 1
    assert proc.stderr.count('UNTRAINED VGG19') == 1  # rank 1's copy of the warning is silenced


def test_one_process_torchrun_run_is_in_a_process_group(tmp_path):
    # what bench/gpu_check.sh does with NCCL on a one-GPU machine: torchrun means DDP even alone
    args = tiny_args(tmp_path, 'ddp1', '--batchSize', '2', '--perceptual_loss', 'patchnce')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1',
                           'train.py'] + args, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('training on 1 process (gloo; devices cpu), global batch 2 = 2 per process') == 1
    assert os.path.isfile(os.path.join(tmp_path, 'ddp1', 'latest_net_G.pth'))


QUIET = '''
import warnings
from trainers.distributed import Context, quiet_unless_main
quiet_unless_main(Context(rank=RANK, world_size=2))
print("printed")
warnings.warn("warned")
raise SystemExit("an error of this rank")
'''


def test_other_ranks_are_quiet_but_their_errors_reach_the_user():
    def run(rank):
        return subprocess.run([sys.executable, '-c', QUIET.replace('RANK', str(rank))], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    main, other = run(0), run(1)
    assert 'printed' in main.stdout and 'warned' in main.stderr
    assert other.stdout == '' and 'warned' not in other.stderr
    assert 'an error of this rank' in other.stderr and other.returncode == 1


class WaitForSignal:
    """A spawned worker that exits as train.py does when signalled: 128 + the signal."""

    def __call__(self):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        open(os.path.join(os.environ['READY_DIR'], os.environ['RANK']), 'w').close()
        time.sleep(120)
        sys.exit(0)


SPAWN = '''
import sys
from trainers.distributed import spawn_per_gpu
from test_distributed import WaitForSignal
sys.exit(spawn_per_gpu(WaitForSignal(), 2))
'''


def test_spawned_workers_get_the_signal_and_their_status_comes_back(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, HERE]), READY_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, '-c', SPAWN], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(os.listdir(tmp_path)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # to the parent only: it must pass it on
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
