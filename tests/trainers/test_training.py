"""Training on the built-in dataset: each perceptual loss, resume bit-identity, DDP, AMP,
TensorBoard, signals, snapshot fallback."""
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
import torch.multiprocessing as mp

from options.train_options import TrainOptions
from runs import snapshot
from trainers import distributed
from trainers.loop import Training, train
from trainers.pix2pix_trainer import Pix2PixTrainer
from helpers import REPO, load, same_weights, tiny_args

def parse(args):
    return TrainOptions().parse(args, save=True, verbose=False)


def last_logged_losses(run) -> dict:
    lines = [l for l in (run / 'loss_log.txt').read_text().splitlines() if l.startswith('(epoch')]
    assert len(lines) == 4  # 8 images, a line every 2
    values = {}
    for part in lines[-1].split(') ', 1)[1].split():
        if part.endswith(':'):
            key = part[:-1]
        else:
            values[key] = float(part)
    return values


def test_short_run_for_each_perceptual_loss(tmp_path):
    perceptual = {}
    for loss in ('vgg', 'patchnce', 'weightnce', 'monce'):
        train(parse(tiny_args(tmp_path, loss, '--perceptual_loss', loss)))
        run = tmp_path / loss
        for name in ('latest_net_G.pth', 'latest_net_D.pth', '1_net_G.pth', '1_net_D.pth', 'latest_train_state.pth',
                     'opt.json', 'opt.txt', 'loss_log.txt'):
            assert (run / name).is_file(), name
        values = last_logged_losses(run)
        assert {'GAN', 'GAN_Feat', 'VGG', 'D_Fake', 'D_real'} <= values.keys()
        assert all(abs(v) < 1e4 for v in values.values())
        state = torch.load(run / 'latest_train_state.pth', weights_only=True)
        assert (state['total_images'], state['iteration']) == (8, 4)
        perceptual[loss] = values['VGG']
    assert len(set(perceptual.values())) == 4, perceptual  # same data and seed: each loss was really used


def test_vae_with_ema_and_mlp_heads_saves_every_network(tmp_path):
    train(parse(tiny_args(tmp_path, 'vae', '--use_vae', '--z_dim', '8', '--ema', '--ema_decay', '0.5',
                          '--perceptual_loss', 'monce', '--nce_mlp', crop=64)))
    run = tmp_path / 'vae'
    for label in ('G', 'D', 'E', 'G_ema', 'heads'):
        assert (run / f'latest_net_{label}.pth').is_file(), label
    assert not same_weights(load(tmp_path, 'vae', 'G'), load(tmp_path, 'vae', 'G_ema'))


def test_resume_after_sigkill_is_bit_identical(tmp_path, capsys):
    args = tiny_args(tmp_path, 'full', '--niter', '2', '--ema', '--ema_decay', '0.9', '--perceptual_loss', 'monce')
    train(parse(args))
    cut = tiny_args(tmp_path, 'cut', '--niter', '2', '--ema', '--ema_decay', '0.9', '--perceptual_loss', 'monce')
    proc = subprocess.Popen([sys.executable, 'train.py'] + cut, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    marker = tmp_path / 'cut' / 'latest_train_state.pth'
    deadline = time.time() + 120
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists() or (tmp_path / 'cut' / 'previous_train_state.pth').exists()
    capsys.readouterr()
    train(parse(cut + ['--continue_train']))
    done = int(re.search(r'Resuming from epoch \d at image \d+ \((\d+) iterations done\)', capsys.readouterr().out)[1])
    assert done >= 2  # it went on from the snapshot rather than training again from scratch
    for label in ('G', 'D', 'G_ema'):
        assert same_weights(load(tmp_path, 'full', label), load(tmp_path, 'cut', label)), label
    full_state = torch.load(tmp_path / 'full' / 'latest_train_state.pth', weights_only=True)
    cut_state = torch.load(tmp_path / 'cut' / 'latest_train_state.pth', weights_only=True)
    assert same_weights(full_state['optimizer_G']['state'][0], cut_state['optimizer_G']['state'][0])


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_latest_and_exits_with_its_status(tmp_path, signum):
    args = tiny_args(tmp_path, 'term', '--niter', '1000', '--save_latest_freq', '1000000', '--print_freq', '2')
    proc = subprocess.Popen([sys.executable, 'train.py'] + args, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = tmp_path / 'term' / 'loss_log.txt'
    deadline = time.time() + 120
    while (not log.exists() or '(epoch' not in log.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, out  # as a shell reports it: `&&` stops, schedulers see a failure
    assert f'stopped by signal {int(signum)}: saved latest' in out and '--continue_train' in out
    state = torch.load(tmp_path / 'term' / 'latest_train_state.pth', weights_only=True)
    assert state['iteration'] >= 1


def test_corrupt_latest_falls_back_to_previous(tmp_path):
    args = tiny_args(tmp_path, 'fb', '--save_latest_freq', '6')  # previous: 6 images, latest: 8
    train(parse(args))
    run = str(tmp_path / 'fb')
    previous_state = torch.load(os.path.join(run, 'previous_train_state.pth'), weights_only=True)
    with open(os.path.join(run, 'latest_net_G.pth'), 'r+b') as handle:  # flip bytes in the middle
        handle.seek(400)
        handle.write(b'\x00garbage\x00')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        nets, state = snapshot.load_snapshot(run, 'latest')
    assert any('falling back to the previous snapshot' in str(w.message) for w in caught)
    assert state['total_images'] == previous_state['total_images']
    assert set(nets) == {'G', 'D'}


@pytest.mark.parametrize('amp, conv_dtype', [('none', torch.float32), ('bf16', torch.bfloat16)])
def test_amp_runs_the_convolutions_in_its_dtype_and_keeps_float32_weights(tmp_path, amp, conv_dtype):
    opt = parse(tiny_args(tmp_path, f'amp_{amp}', '--amp', amp, '--perceptual_loss', 'monce'))
    trainer = Pix2PixTrainer(opt, distributed.Context())
    seen = set()
    for module in list(trainer.nets.netG.modules()) + list(trainer.nets.netD.modules()):
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(lambda m, i, out: seen.add(out.dtype))
    semantics = torch.zeros(2, opt.semantic_nc, 32, 32)
    semantics[:, 1] = 1
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    losses = trainer.run_generator_one_step(semantics, real, iteration=1)
    losses.update(trainer.run_discriminator_one_step(semantics, real))
    assert seen == {conv_dtype}
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(p.dtype == torch.float32 for p in trainer.nets.netG.parameters())


def test_tensorboard_tags(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    train(parse(tiny_args(tmp_path, 'tb', '--perceptual_loss', 'monce')))
    acc = EventAccumulator(str(tmp_path / 'tb' / 'tensorboard'))
    acc.Reload()
    scalars = set(acc.Tags()['scalars'])
    assert {'GAN', 'GAN_Feat', 'VGG', 'D_Fake', 'D_real', 'lr_G', 'images_per_second'} <= scalars
    assert 'label|synthesized|real' in acc.Tags()['images']
    assert len(acc.Scalars('VGG')) == 4


def test_discriminator_reuses_generator_fakes_unless_asked(tmp_path, monkeypatch):
    calls = {'n': 0}
    original = Pix2PixTrainer.__init__

    def counting_init(self, opt, ctx):
        original(self, opt, ctx)
        forward = self.generator_side.forward

        def counted(*a, **k):
            calls['n'] += 1
            return forward(*a, **k)
        self.generator_side.forward = counted
        self.g_step_module = self.generator_side

    monkeypatch.setattr(Pix2PixTrainer, '__init__', counting_init)
    train(parse(tiny_args(tmp_path, 'reuse', '--perceptual_loss', 'vgg')))
    assert calls['n'] == 4  # one generator forward per iteration
    calls['n'] = 0
    train(parse(tiny_args(tmp_path, 'again', '--perceptual_loss', 'vgg', '--recompute_fake_for_D')))
    assert calls['n'] == 8


def test_learning_rate_schedule_matches_spade(tmp_path):
    opt = parse(tiny_args(tmp_path, 'lr', '--niter', '2', '--niter_decay', '4', '--lr', '0.1'))
    trainer = Pix2PixTrainer(opt, distributed.Context())
    # SPADE lowers lr by lr/niter_decay at the end of every epoch past niter
    expected, lr = {}, 0.1
    for epoch in range(1, 7):
        expected[epoch] = lr
        if epoch > 2:
            lr -= 0.1 / 4
    for epoch, value in expected.items():
        g, d = trainer.update_learning_rate(epoch)
        assert g == pytest.approx(value / 2) and d == pytest.approx(value * 2)


# ---------------------------------------------------------------- two processes (gloo)
class RecordingTraining(Training):
    def train_one_iteration(self, i, batch):
        self.seen = getattr(self, 'seen', []) + list(batch['path'])
        super().train_one_iteration(i, batch)


def _ddp_worker(rank, world, port, args, results):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    opt = TrainOptions().parse(args, save=rank == 0, verbose=False)
    ctx = distributed.setup(opt)
    try:
        run = RecordingTraining(opt, ctx)
        run.run()
        results[rank] = ({k: v.clone() for k, v in run.trainer.nets.netG.state_dict().items()}, run.seen)
    finally:
        distributed.cleanup()


def test_two_process_gloo_ranks_agree_and_split_data(tmp_path):
    args = tiny_args(tmp_path, 'ddp', '--batchSize', '4', '--perceptual_loss', 'monce', crop=64)
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_ddp_worker, args=(2, distributed.free_port(), args, results), nprocs=2, join=True)
        (g0, seen0), (g1, seen1) = results[0], results[1]
    assert same_weights(g0, g1)
    assert len(seen0) == len(seen1) == 4 and not set(seen0) & set(seen1)
    assert same_weights(g0, load(tmp_path, 'ddp', 'G'))


def test_batch_must_split_over_processes(tmp_path, monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '3')
    opt = TrainOptions().parse(tiny_args(tmp_path, 'split', '--batchSize', '4'), save=False, verbose=False)
    with pytest.raises(Exception, match='--batchSize 4 is the global batch and must split evenly over 3'):
        distributed.setup(opt)


def test_continue_from_a_spade_folder_without_training_state(tmp_path, capsys):
    args = tiny_args(tmp_path, 'spade', '--perceptual_loss', 'vgg')
    train(parse(args))
    run = tmp_path / 'spade'
    for name in os.listdir(run):  # leave what SPADE writes: latest_net_{G,D}.pth and iter.txt
        if name.endswith('train_state.pth') or name.startswith(('previous_', '1_')):
            os.remove(run / name)
    (run / 'iter.txt').write_text('2\n0\n')
    before = load(tmp_path, 'spade', 'G')
    train(parse(args[:args.index('--niter')] + ['--niter', '2'] + args[args.index('--niter') + 2:] +
                ['--continue_train']))
    out = capsys.readouterr().out
    assert 'no training state' in out and 'at epoch 2' in out
    assert not same_weights(before, load(tmp_path, 'spade', 'G'))  # trained on from the loaded weights
    assert torch.load(run / 'latest_train_state.pth', weights_only=True)['iteration'] == 8
