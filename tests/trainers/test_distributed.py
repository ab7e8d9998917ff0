"""Multi-process runs: one start-up line saying what the run is, only rank 0 prints and warns,
errors of any rank reach the user, a signal's exit status comes back from spawned workers, and
the contrastive heads stay identical on every rank."""
import os
import signal
import subprocess
import sys
import time

import torch

from helpers import REPO, tiny_args

HERE = os.path.dirname(os.path.abspath(__file__))


def torchrun_train(processes: int, args: list) -> subprocess.CompletedProcess:
    """train.py under ``torchrun --standalone``, one thread per process; asserts it succeeded."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
                           str(processes), 'train.py'] + args, cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_process_torchrun_run_says_what_it_is_once(tmp_path):
    proc = torchrun_train(2, tiny_args(tmp_path, 'ddp', '--batchSize', '4', '--perceptual_loss', 'patchnce'))
    out = proc.stdout
    assert out.count('training on 2 processes (gloo; devices cpu, cpu), global batch 4 = 2 per process, '
                     'SyncBatchNorm off (BatchNorm statistics per process)') == 1, out
    assert out.count('Network [SPADEGenerator] was created') == 1
    assert out.count('Training was successfully finished.') == 1
    assert proc.stderr.count('UNTRAINED VGG19') == 1  # rank 1's copy of the warning is silenced


def test_one_process_torchrun_run_is_in_a_process_group(tmp_path):
    # what bench/gpu_check.sh does with NCCL on a one-GPU machine: torchrun means DDP even alone
    proc = torchrun_train(1, tiny_args(tmp_path, 'ddp1', '--batchSize', '2', '--perceptual_loss', 'patchnce'))
    assert proc.stdout.count('training on 1 process (gloo; devices cpu), global batch 2 = 2 per process') == 1
    assert os.path.isfile(os.path.join(tmp_path, 'ddp1', 'latest_net_G.pth'))


HEADS = '''
import sys
import torch
from options.train_options import TrainOptions
from runs.networks import cpu_state_dict
from trainers.distributed import setup
from trainers.pix2pix_trainer import Pix2PixTrainer

opt = TrainOptions().parse(sys.argv[2:], verbose=False)
ctx = setup(opt)
torch.manual_seed(ctx.rank)  # each rank starts from its own weights and draws its own batches
trainer = Pix2PixTrainer(opt, ctx)
start = cpu_state_dict(trainer.nets.heads)
draw = torch.Generator().manual_seed(ctx.rank)
for iteration in range(1, 4):
    label = torch.randint(0, opt.semantic_nc, (2, 1, 32, 32), generator=draw)
    semantics = torch.zeros(2, opt.semantic_nc, 32, 32).scatter_(1, label, 1.0)
    real = torch.rand(2, 3, 32, 32, generator=draw) * 2 - 1
    losses = trainer.run_generator_one_step(semantics, real, iteration)
    trainer.run_discriminator_one_step(semantics, real)
torch.save({'start': start, 'end': cpu_state_dict(trainer.nets.heads), 'loss': losses['VGG'].item()},
           f'{sys.argv[1]}/rank{ctx.rank}.pth')
'''


def test_contrastive_heads_stay_identical_on_every_rank(tmp_path):
    # --nce_mlp: the heads are trained by the generator's optimiser on each rank's own batches
    script = tmp_path / 'heads.py'
    script.write_text(HEADS)
    args = tiny_args(tmp_path, 'heads', '--batchSize', '4', '--perceptual_loss', 'patchnce', '--nce_mlp',
                     '--vgg_layers', 'relu1_2,relu2_2', '--vgg_layer_weights', '1,1')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                           str(script), str(tmp_path)] + args, cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True) for r in (0, 1)]
    assert ranks[0]['loss'] != ranks[1]['loss']  # the ranks saw different batches
    first, second = ranks[0]['end'], ranks[1]['end']
    assert sorted(first) == sorted(second) == sorted(ranks[0]['start'])
    assert any(not torch.equal(first[k], ranks[0]['start'][k]) for k in first)  # the steps trained them
    assert all(torch.equal(first[k], second[k]) for k in first), \
        [k for k in first if not torch.equal(first[k], second[k])]


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


SPAWN = '''
import sys
from trainers.distributed import spawn_per_gpu
from helpers import WaitForSignal
sys.exit(spawn_per_gpu(WaitForSignal(), 2))
'''


def test_spawned_workers_get_the_signal_and_their_status_comes_back(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, 'tests')]), READY_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, '-c', SPAWN], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(os.listdir(tmp_path)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # to the parent only: it must pass it on
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
