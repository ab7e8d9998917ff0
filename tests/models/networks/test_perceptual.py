"""The perceptual loss module: options, the preset, the wiring of VGG taps to the losses."""
import argparse
import copy
import re

import pytest
import torch
import torch.nn.functional as F

from models.networks import contrastive, perceptual
from models.networks.perceptual import PerceptualLoss, contrastive_heads
from models.networks.vgg import VGG19Features
from options.base_options import OptionParser
from util.errors import OptionError

pytestmark = pytest.mark.filterwarnings('ignore:--vgg_weights random')
RELU_1 = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1']
WEIGHTS = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0]
SHALLOW = ('--vgg_layers', 'relu1_2,relu2_2', '--vgg_layer_weights', '1/32,1/16')  # fast where depth is moot


def parse(*argv: str) -> argparse.Namespace:
    argv = list(argv)
    parser = OptionParser(argv)
    perceptual.modify_commandline_options(parser, True)
    return parser.parse_args(argv)


_VGGS: dict = {}


def build(*argv: str) -> PerceptualLoss:
    """The module for these options, sharing one random VGG per set of taps (building and
    initialising a VGG19 trunk is most of the cost of a tiny test)."""
    opt = parse('--vgg_weights', 'random', *argv)
    try:
        layers = tuple(perceptual.parse_layers(opt))
    except OptionError:
        return PerceptualLoss(opt)
    if layers not in _VGGS:
        _VGGS[layers] = VGG19Features(layers, 'random')
    return PerceptualLoss(opt, vgg=_VGGS[layers])


def images(size=32, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
    fake = (real + 0.3 * torch.randn(batch, 3, size, size, generator=gen)).clamp(-1, 1)
    return fake.requires_grad_(True), real


def seeded_loss(loss: PerceptualLoss, fake, real, seed=0) -> torch.Tensor:
    torch.manual_seed(seed)
    return loss(fake, real)


def patches(loss: PerceptualLoss, fake, real, seed=0) -> dict:
    """(q, k) per layer, drawn as the module draws them: one permutation per layer, in order."""
    return patches_of_features(loss, loss.vgg(fake), loss.vgg(real), seed)


def patches_of_features(loss: PerceptualLoss, feats_fake: dict, feats_real: dict, seed=0) -> dict:
    """As ``patches``, from given VGG activations, in float32 whatever their dtype, through the
    module's MLP heads if it has any."""
    torch.manual_seed(seed)
    out = {}
    for name in loss.layers:
        f, r = feats_fake[name].float().flatten(2), feats_real[name].float().flatten(2)
        index = torch.randperm(f.shape[-1])[:min(loss.opt.num_patches, f.shape[-1])]
        q, k = f[:, :, index].transpose(1, 2), r[:, :, index].transpose(1, 2)
        if name in loss.heads:
            q, k = loss.heads[name](q), loss.heads[name](k)
        out[name] = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    return out


# ------------------------------------------------------------------------------ options
def test_defaults_follow_the_paper():
    opt = parse('--perceptual_loss', 'monce')
    assert parse().perceptual_loss == 'vgg' and opt.monce_preset == 'none'
    assert opt.vgg_layers == 'relu1_2,relu2_2,relu3_2,relu4_2,relu5_2'  # the vgg loss keeps SPADE's relu*_1
    assert perceptual.parse_layer_weights(opt, 5) == WEIGHTS
    assert (opt.num_patches, opt.nce_T, opt.neg_term_weight, opt.ot_eps, opt.ot_cost) == (256, 0.07, 1.0, 0.1, 'easy')
    assert (opt.weight_beta, opt.weight_mode, opt.nce_modulated_layers, opt.nce_mlp) == (0.1, 'easy', 'all', False)
    assert (opt.vgg_weights, opt.vgg_normalize, opt.nce_modulate_positive) == ('imagenet', False, False)


# the released paired MoNCE code's settings, written out here rather than read from the preset
RELEASED = dict(perceptual_loss='monce', vgg_layers=','.join(RELU_1), vgg_layer_weights='1/32,1/16,1/8,1/4,1',
                vgg_normalize=False, num_patches=256, nce_T=0.07, nce_mlp=False, nce_modulated_layers='relu5_1',
                ot_eps=1.0, ot_cost='hard', neg_weight_total=128.0, nce_modulate_positive=True,
                nce_weight_floor=1e-8, sinkhorn_iters=50, sinkhorn_tol=0.0, ot_detach_plan=False)


def test_official_preset_sets_the_released_settings_and_flags_still_win():
    opt = parse('--monce_preset', 'official')
    assert {key: getattr(opt, key) for key in RELEASED} == RELEASED
    opt = parse('--monce_preset', 'official', '--ot_eps', '0.5', '--perceptual_loss', 'weightnce')
    assert (opt.ot_eps, opt.perceptual_loss, opt.ot_cost) == (0.5, 'weightnce', 'hard')


@pytest.mark.parametrize('argv, message', [
    (['--vgg_layer_weights', '1,2'], '--vgg_layer_weights gives 2 weights for 5 layers'),
    (['--vgg_layer_weights', '1/32,x,1,1,1'], '--vgg_layer_weights must be'),
    (['--vgg_layers', 'relu1_1,relu9_9', '--vgg_layer_weights', '1,1'], '--vgg_layers: unknown VGG19 layer(s) relu9_9'),
    (['--perceptual_loss', 'monce', '--nce_modulated_layers', 'relu1_1'], '--nce_modulated_layers: relu1_1 not among'),
    (['--ot_eps', '0'], '--ot_eps must be > 0'),
    (['--nce_T', '-1'], '--nce_T must be > 0'),
    (['--sinkhorn_tol=-0.001'], '--sinkhorn_tol must be >= 0'),
    (['--perceptual_loss', 'monce', '--num_patches', '1'], '--num_patches must be >= 2'),
])
def test_invalid_options_raise_one_clear_line(argv, message):
    with pytest.raises(OptionError, match=re.escape(message)):
        build(*argv)


def test_choices_are_enforced_by_the_parser():
    with pytest.raises(OptionError, match='perceptual_loss'):
        parse('--perceptual_loss', 'lpips')


# --------------------------------------------------------------------------- the losses
def test_vgg_loss_is_spades_weighted_l1():
    loss = build('--perceptual_loss', 'vgg', '--vgg_layers', ','.join(RELU_1))
    fake, real = images()
    feats_fake, feats_real = loss.vgg(fake), loss.vgg(real)
    expected = sum(w * F.l1_loss(feats_fake[n], feats_real[n]) for n, w in zip(RELU_1, WEIGHTS))
    torch.testing.assert_close(loss(fake, real), expected)
    assert set(loss.last_stats) == set(RELU_1)


def test_official_preset_is_patchnce_below_and_released_monce_at_relu5_1():
    loss = build('--monce_preset', 'official')
    fake, real = images(size=64)  # relu5_1 is 4x4: 16 patches, so Q = 128/15
    pairs = patches(loss, fake, real)
    expected = 0
    for name, w in zip(RELU_1, WEIGHTS):
        q, k = pairs[name]
        if name == 'relu5_1':
            per_anchor = contrastive.monce_loss(q, k, Q=128 / 15, eps=1.0, cost='hard', sinkhorn_iters=50,
                                                modulate_positive=True, sinkhorn_tol=0.0, weight_floor=1e-8)
        else:
            per_anchor = contrastive.patchnce_loss(q, k)
        expected = expected + w * per_anchor.mean()
    torch.testing.assert_close(seeded_loss(loss, fake, real), expected, rtol=1e-6, atol=1e-6)
    assert loss.last_stats['relu5_1_sinkhorn_iters'] == 50
    assert 'relu4_1_sinkhorn_iters' not in loss.last_stats


def test_vgg_loss_value_and_gradient_are_l1_loss_bit_for_bit():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(2, 8, 6, 6, generator=gen).relu()
    fake = torch.randn(2, 8, 6, 6, generator=gen).relu()  # both 0 at a quarter of the entries: sign 0
    assert (fake == real).any()
    mine, theirs = fake.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    value, expected = perceptual.l1_distance(mine, real), F.l1_loss(theirs, real)
    (3 * value).backward()
    (3 * expected).backward()
    assert torch.equal(value, expected) and torch.equal(mine.grad, theirs.grad)


def saved_bytes(fn, exclude: set) -> int:
    """Bytes of the distinct storages autograd saves for the backward while ``fn()`` runs,
    leaving out ``exclude`` (data pointers of the VGG's weights, which exist anyway)."""
    saved = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in exclude:
            saved[storage.data_ptr()] = storage.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(saved.values())


@pytest.mark.parametrize('taps', [RELU_1, perceptual.DEFAULT_LAYERS.split(',')], ids=['relu_1', 'relu_2'])
def test_vgg_loss_saves_the_fake_forward_and_one_byte_per_tapped_value(taps):
    # the real image's pass keeps nothing for the backward and the L1 keeps the sign of each
    # difference in one byte: F.l1_loss kept the float difference (as much as the taps again)
    loss = build('--perceptual_loss', 'vgg', '--vgg_layers', ','.join(taps))
    fake, real = images(size=64)
    weights = {p.untyped_storage().data_ptr() for p in loss.vgg.parameters()}
    forward = saved_bytes(lambda: loss.vgg(fake), weights)
    tapped = sum(x.numel() for x in loss.vgg(fake.detach()).values())
    total = saved_bytes(lambda: loss(fake, real), weights)
    assert forward < total <= forward + tapped + 1024  # + 1 KiB: scalars


@pytest.mark.parametrize('kind', ['weightnce', 'monce'])
def test_modulated_layers_use_the_weighted_loss_and_the_others_patchnce(kind):
    loss = build('--perceptual_loss', kind, '--nce_modulated_layers', 'relu2_2,relu4_2', '--num_patches', '32')
    fake, real = images()
    pairs = patches(loss, fake, real)
    expected = 0
    for name, w in zip(loss.layers, WEIGHTS):
        q, k = pairs[name]
        if name not in ('relu2_2', 'relu4_2'):
            per_anchor = contrastive.patchnce_loss(q, k)
        elif kind == 'weightnce':
            per_anchor = contrastive.weightnce_loss(q, k)
        else:
            per_anchor = contrastive.monce_loss(q, k)
        expected = expected + w * per_anchor.mean()
    torch.testing.assert_close(seeded_loss(loss, fake, real), expected, rtol=1e-5, atol=1e-6)


def test_total_negative_weight_option_overrides_q():
    loss = build('--perceptual_loss', 'monce', '--neg_weight_total', '30', '--neg_term_weight', '0.5',
                 '--num_patches', '11', '--vgg_layers', 'relu1_1', '--vgg_layer_weights', '1')
    fake, real = images()
    q, k = patches(loss, fake, real)['relu1_1']
    expected = contrastive.monce_loss(q, k, Q=3.0).mean()  # 30 / (11 - 1), not --neg_term_weight's 0.5
    for ignored in (0.5, 1.0):  # neither the explicit Q nor the default Q gives the same loss
        assert abs(contrastive.monce_loss(q, k, Q=ignored).mean() / expected - 1) > 0.1
    torch.testing.assert_close(seeded_loss(loss, fake, real), expected, rtol=1e-6, atol=1e-6)


# every loss option at a value other than its default, with the functional argument it must become
OPTION_CASES = [
    ('patchnce', ['--nce_T', '0.2'], dict(tau=0.2)),
    ('weightnce', ['--nce_T', '0.2'], dict(tau=0.2)),
    ('weightnce', ['--weight_beta', '0.02'], dict(beta=0.02)),
    ('weightnce', ['--weight_mode', 'hard'], dict(weighting='hard')),
    ('weightnce', ['--neg_term_weight', '3'], dict(Q=3.0)),
    ('monce', ['--nce_T', '0.2'], dict(tau=0.2)),
    ('monce', ['--neg_term_weight', '3'], dict(Q=3.0)),
    ('monce', ['--ot_eps', '0.03'], dict(eps=0.03)),
    ('monce', ['--ot_cost', 'hard'], dict(cost='hard')),
    ('monce', ['--sinkhorn_iters', '2'], dict(sinkhorn_iters=2)),
    ('monce', ['--sinkhorn_tol', '0.2'], dict(sinkhorn_tol=0.2)),
    ('monce', ['--nce_modulate_positive'], dict(modulate_positive=True)),
    ('monce', ['--nce_weight_floor', '0.2'], dict(weight_floor=0.2)),
]
FUNCTIONS = {'patchnce': contrastive.patchnce_loss, 'weightnce': contrastive.weightnce_loss,
             'monce': contrastive.monce_loss}


@pytest.mark.parametrize('kind, argv, kwargs', OPTION_CASES, ids=[f'{c[0]}{c[1][0]}' for c in OPTION_CASES])
def test_each_loss_option_reaches_the_loss(kind, argv, kwargs):
    loss = build('--perceptual_loss', kind, '--num_patches', '16', *SHALLOW, *argv)
    fake, real = images()
    pairs = patches(loss, fake, real)
    fn = FUNCTIONS[kind]
    expected = sum(w * fn(*pairs[n], **kwargs).mean() for n, w in zip(loss.layers, WEIGHTS))
    default = sum(w * fn(*pairs[n]).mean() for n, w in zip(loss.layers, WEIGHTS))
    assert abs(expected / default - 1) > 1e-3  # the option changes the loss: ignoring it would show
    torch.testing.assert_close(seeded_loss(loss, fake, real), expected, rtol=1e-6, atol=1e-7)


def test_detached_plan_option_changes_the_gradient_only():
    fake, real = images()
    values, grads = [], []
    for argv in ((), ('--ot_detach_plan',)):
        loss = build('--perceptual_loss', 'monce', '--num_patches', '16', *SHALLOW, *argv)
        fake.grad = None
        value = seeded_loss(loss, fake, real)
        value.backward()
        values.append(value.detach())
        grads.append(fake.grad.clone())
    fake.grad = None
    pairs = patches(loss, fake, real)
    sum(w * contrastive.monce_loss(*pairs[n], grad_through_plan=False).mean()
        for n, w in zip(loss.layers, WEIGHTS)).backward()
    torch.testing.assert_close(values[1], values[0], rtol=1e-6, atol=0)
    torch.testing.assert_close(grads[1], fake.grad, rtol=1e-4, atol=1e-9)
    assert (grads[1] - grads[0]).abs().max() > 1e-2 * grads[0].abs().max()


def test_batched_sinkhorn_over_layers_equals_one_solve_per_layer():
    # relu1_2 ... relu4_2 have 16 patches here and share one batched Sinkhorn solve; relu5_2
    # (2x2 positions on a 32x32 image) has 4 and is solved alone
    loss = build('--perceptual_loss', 'monce', '--num_patches', '16', '--sinkhorn_tol', '0')
    fake, real = images()
    pairs = patches(loss, fake, real)
    expected = sum(w * contrastive.monce_loss(*pairs[n], sinkhorn_tol=0.0).mean() for n, w in zip(loss.layers, WEIGHTS))
    torch.testing.assert_close(seeded_loss(loss, fake, real), expected, rtol=1e-6, atol=1e-6)
    assert {int(loss.last_stats[f'{n}_sinkhorn_iters']) for n in loss.layers} == {100}


def value_and_gradient(loss: PerceptualLoss, fake, real, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    fake = fake.detach().clone().requires_grad_(True)
    value = seeded_loss(loss, fake, real, seed)
    value.backward()
    return value.detach(), fake.grad


@pytest.mark.parametrize('dtype, tol', [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_stacked_solve_of_the_layers_equals_one_solve_per_layer(dtype, tol):
    # at the default tolerance each layer stops when it converges, alone or stacked with the others
    opt = parse('--perceptual_loss', 'monce', '--num_patches', '16', '--vgg_weights', 'random')
    vgg = copy.deepcopy(build('--perceptual_loss', 'monce').vgg)  # its own copy: .to() moves it
    stacked, per_layer = (PerceptualLoss(opt, vgg=vgg, stack_solves=stack).to(dtype) for stack in (True, False))
    fake, real = images()
    fake, real = fake.to(dtype), real.to(dtype)
    value, grad = value_and_gradient(stacked, fake, real)
    expected_value, expected_grad = value_and_gradient(per_layer, fake, real)
    torch.testing.assert_close(value, expected_value, rtol=tol, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=tol * expected_grad.abs().max().item())
    steps = {name: int(stacked.last_stats[f'{name}_sinkhorn_iters']) for name in stacked.layers}
    assert steps == {name: int(per_layer.last_stats[f'{name}_sinkhorn_iters']) for name in per_layer.layers}
    assert len(set(steps.values())) > 1  # the stacked layers converge at different steps


HOST_READS = ('item', 'tolist', '__bool__', '__int__', '__float__', '__index__', 'nonzero')


def refusing_host_reads(monkeypatch, fn):
    """``fn()`` with every way of reading a tensor's value back to the host raising."""
    def refuse(self, *args, **kwargs):
        raise AssertionError('a tensor was read back to the host')
    with monkeypatch.context() as patch:
        for name in HOST_READS:
            patch.setattr(torch.Tensor, name, refuse)
        return fn()


def test_fixed_sinkhorn_reads_nothing_back_and_gives_the_same_loss(monkeypatch):
    fake, real = images()
    adaptive = build('--perceptual_loss', 'monce', '--num_patches', '16', '--sinkhorn_iters', '40', *SHALLOW)
    fixed = build('--perceptual_loss', 'monce', '--num_patches', '16', '--sinkhorn_iters', '40', *SHALLOW,
                  '--sinkhorn_fixed')
    value, grad = refusing_host_reads(monkeypatch, lambda: value_and_gradient(fixed, fake, real))
    with pytest.raises(AssertionError, match='read back'):  # the adaptive solve does read
        refusing_host_reads(monkeypatch, lambda: value_and_gradient(adaptive, fake, real))
    expected_value, expected_grad = value_and_gradient(adaptive, fake, real)
    torch.testing.assert_close(value, expected_value, rtol=1e-6, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-5 * expected_grad.abs().max().item())
    assert [int(fixed.last_stats[f'{n}_sinkhorn_iters']) for n in fixed.layers] == \
        [int(adaptive.last_stats[f'{n}_sinkhorn_iters']) for n in adaptive.layers]


@pytest.mark.filterwarnings('ignore')
def test_fixed_sinkhorn_loss_compiles_as_one_graph():
    # fullgraph: torch.compile refuses any host read or branch on a value instead of splitting the graph
    loss = build('--perceptual_loss', 'monce', '--num_patches', '16', '--sinkhorn_iters', '4', *SHALLOW,
                 '--sinkhorn_fixed')
    fake, real = images()
    feats = loss.vgg(fake), loss.vgg(real)
    compiled = torch.compile(loss.compare, backend='eager', fullgraph=True)
    torch.manual_seed(0)
    value = compiled(*feats)
    torch.manual_seed(0)
    torch.testing.assert_close(value, loss.compare(*feats), rtol=1e-6, atol=0)


# ------------------------------------------------------------------ randomness, gradients
@pytest.mark.parametrize('kind', ['patchnce', 'monce'])
def test_seeded_runs_repeat_exactly_and_seeds_matter(kind):
    loss = build('--perceptual_loss', kind, '--num_patches', '16', *SHALLOW)
    fake, real = images()
    first, again = seeded_loss(loss, fake, real, 1), seeded_loss(loss, fake, real, 1)
    assert torch.equal(first, again)
    assert not torch.equal(first, seeded_loss(loss, fake, real, 2))


def test_gradient_reaches_the_fake_image_only():
    loss = build('--perceptual_loss', 'monce', '--num_patches', '16', *SHALLOW)
    fake, real = images()
    real.requires_grad_(True)
    loss(fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None


@pytest.mark.parametrize('heads', [(), ('--nce_mlp',)], ids=['plain', 'mlp'])
def test_contrastive_part_is_float32_under_autocast(heads):
    loss = build('--perceptual_loss', 'monce', '--num_patches', '16', *SHALLOW, *heads)
    fake, real = images()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = seeded_loss(loss, fake, real)
        feats_fake, feats_real = loss.vgg(fake), loss.vgg(real)
    assert feats_fake['relu2_2'].dtype == torch.bfloat16  # the VGG itself does run in bfloat16
    # the patches of those bfloat16 activations, normalised and contrasted in float32
    pairs = patches_of_features(loss, feats_fake, feats_real)
    expected = sum(w * contrastive.monce_loss(*pairs[n]).mean() for n, w in zip(loss.layers, WEIGHTS))
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
    value.backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


# ---------------------------------------------------------------- state, heads, devices
def test_vgg_is_never_saved_nor_trained():
    loss = build('--perceptual_loss', 'monce')
    assert loss.state_dict() == {} and list(loss.parameters()) == []
    assert not any(p.requires_grad for p in loss.vgg.parameters())
    loss.train()
    assert not loss.vgg.training


def test_module_moves_carry_the_vgg_along():
    loss = PerceptualLoss(parse('--perceptual_loss', 'patchnce', '--vgg_weights', 'random')).to(torch.float64)
    assert loss.vgg.features[0].weight.dtype == torch.float64
    fake, real = images()
    assert torch.isfinite(loss(fake.double(), real.double()))


def test_mlp_heads_are_trainable_saved_and_reloaded():
    loss = build('--perceptual_loss', 'monce', '--nce_mlp', '--num_patches', '16', *SHALLOW)
    heads = list(loss.heads.parameters())
    assert len(heads) == 4 * 2 and all(p.requires_grad for p in heads)
    assert set(loss.state_dict()) == {f'heads.{k}' for k in loss.heads.state_dict()}
    assert loss.heads['relu2_2'][0].in_features == 128 and loss.heads['relu2_2'][2].out_features == 256
    fake, real = images()
    seeded_loss(loss, fake, real).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in heads)

    other = PerceptualLoss(loss.opt, vgg=loss.vgg)
    assert not torch.equal(seeded_loss(other, fake, real), seeded_loss(loss, fake, real))
    other.heads.load_state_dict(loss.heads.state_dict())
    assert torch.equal(seeded_loss(other, fake, real), seeded_loss(loss, fake, real))


def test_heads_handed_in_are_the_ones_used():
    opt = parse('--perceptual_loss', 'monce', '--nce_mlp', '--vgg_weights', 'random', *SHALLOW)
    heads = contrastive_heads(opt)
    loss = PerceptualLoss(opt, heads=heads)
    assert loss.heads is heads
    assert contrastive_heads(parse('--perceptual_loss', 'monce')) is None  # no --nce_mlp
    assert contrastive_heads(parse('--perceptual_loss', 'vgg', '--nce_mlp')) is None  # L1 loss: no heads


def test_last_stats_for_logging_without_device_sync():
    loss = build('--perceptual_loss', 'monce', '--num_patches', '16', *SHALLOW)
    fake, real = images()
    value = loss(fake, real)
    per_layer = [loss.last_stats[name] for name in loss.layers]
    assert all(torch.is_tensor(x) and x.dim() == 0 and not x.requires_grad for x in per_layer)
    per_layer = [float(x) for x in per_layer]
    assert abs(sum(w * x for w, x in zip(WEIGHTS, per_layer)) - value.item()) < 1e-5
    steps = [loss.last_stats[f'{n}_sinkhorn_iters'] for n in loss.layers]
    assert all(torch.is_tensor(x) and x.dim() == 0 and 1 <= int(x) < 100 for x in steps)
