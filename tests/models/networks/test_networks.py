"""SPADE-compatible networks: sizes, state-dict names, shapes per variant, and outputs equal to an
independent functional statement of SPADE's generator."""
import json
import re

import pytest
import torch

from helpers import tiny_args
from models import networks
from models.networks.generator import SPADEGenerator
from tests.models.networks import spade_reference as ref
from tests.opt_factory import make_opt


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------- official sizes
def test_parameter_counts_match_official_spade_ade20k():
    opt = make_opt()  # 150 labels + dontcare, no instance, crop 256, ngf 64
    assert count(networks.define_G(opt, verbose=False)) == 96_492_483
    assert count(networks.define_D(opt, verbose=False)) == 5_836_930
    assert count(networks.define_E(opt, verbose=False)) == 10_463_424


def test_parameter_counts_match_official_spade_celebahq():
    opt = make_opt(label_nc=19, contain_dontcare_label=False)
    assert count(networks.define_G(opt, verbose=False)) == 92_538_819
    assert count(networks.define_D(opt, verbose=False)) == 5_566_594


# ---------------------------------------------------------------- state-dict names
def test_generator_state_dict_uses_spade_names_and_shapes():
    state = networks.define_G(make_opt(), verbose=False).state_dict()
    expected = {
        'fc.weight': (1024, 151, 3, 3),
        'head_0.conv_0.weight_orig': (1024, 1024, 3, 3),
        'head_0.conv_0.weight_u': (1024,),
        'head_0.conv_0.weight_v': (1024 * 9,),
        'head_0.norm_0.param_free_norm.running_mean': (1024,),
        'head_0.norm_0.param_free_norm.running_var': (1024,),
        'head_0.norm_0.param_free_norm.num_batches_tracked': (),
        'head_0.norm_0.mlp_shared.0.weight': (128, 151, 3, 3),
        'head_0.norm_0.mlp_gamma.weight': (1024, 128, 3, 3),
        'head_0.norm_0.mlp_beta.bias': (1024,),
        'up_0.conv_s.weight_orig': (512, 1024, 1, 1),
        'up_0.norm_s.mlp_shared.0.weight': (128, 151, 3, 3),
        'up_3.conv_1.weight_orig': (64, 64, 3, 3),
        'conv_img.weight': (3, 64, 3, 3),
        'conv_img.bias': (3,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert 'up_0.conv_s.bias' not in state  # SPADE's shortcut conv has no bias
    assert not any(k.startswith('up_4') for k in state)


def test_discriminator_and_encoder_state_dict_names():
    opt = make_opt()
    d_state = networks.define_D(opt, verbose=False).state_dict()
    assert tuple(d_state['discriminator_0.model0.0.weight'].shape) == (64, 154, 4, 4)
    assert tuple(d_state['discriminator_0.model0.0.bias'].shape) == (64,)
    assert tuple(d_state['discriminator_1.model1.0.0.weight_orig'].shape) == (128, 64, 4, 4)
    assert 'discriminator_1.model1.0.0.bias' not in d_state  # removed before instance norm
    assert tuple(d_state['discriminator_1.model4.0.weight'].shape) == (1, 512, 4, 4)
    e_state = networks.define_E(opt, verbose=False).state_dict()
    assert tuple(e_state['layer1.0.weight_orig'].shape) == (64, 3, 3, 3)
    assert tuple(e_state['layer6.0.weight_orig'].shape) == (512, 512, 3, 3)
    assert tuple(e_state['fc_mu.weight'].shape) == (256, 512 * 16)
    assert tuple(e_state['fc_var.bias'].shape) == (256,)


def test_batchnorm_variants_keep_running_stats_in_state_dict():
    d_state = networks.define_D(make_opt(ndf=8, norm_D='spectralbatch'), verbose=False).state_dict()
    for suffix in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
        assert f'discriminator_0.model1.0.1.{suffix}' in d_state
    g_state = networks.define_G(make_opt(ngf=8, crop_size=64, norm_G='spadeinstance3x3'), verbose=False).state_dict()
    assert not any('running_mean' in k for k in g_state)
    assert 'head_0.conv_0.weight' in g_state and 'head_0.conv_0.weight_orig' not in g_state


# ---------------------------------------------------------------- shapes per variant
@pytest.mark.parametrize('norm_G', ['spectralspadesyncbatch3x3', 'spectralspadebatch3x3', 'spectralspadeinstance3x3',
                                    'spadeinstance3x3', 'spadebatch5x5', 'spectralspadeinstance1x1'])
def test_spade_generator_norm_variants(norm_G, seeded):
    opt = make_opt(ngf=4, crop_size=64, label_nc=5, contain_dontcare_label=False, norm_G=norm_G)
    net = networks.define_G(opt, verbose=False)
    seg = torch.nn.functional.one_hot(torch.randint(0, 5, (2, 64, 64)), 5).permute(0, 3, 1, 2).float()
    out = net(seg)
    assert out.shape == (2, 3, 64, 64)
    assert out.abs().max() <= 1
    # the variant named is the one built: spectral or not, the parameter-free norm, the kernel size
    assert hasattr(net.head_0.conv_0, 'weight_orig') == norm_G.startswith('spectral')
    norm = net.head_0.norm_0
    assert type(norm.param_free_norm) is (torch.nn.InstanceNorm2d if 'instance' in norm_G else torch.nn.BatchNorm2d)
    assert not norm.param_free_norm.affine
    ks = int(norm_G[-1])
    assert norm.mlp_shared[0].kernel_size == norm.mlp_gamma.kernel_size == norm.mlp_beta.kernel_size == (ks, ks)
    assert norm.mlp_shared[0].padding == (ks // 2, ks // 2)


@pytest.mark.parametrize('mode,crop', [('normal', 64), ('more', 128), ('most', 256)])
def test_spade_generator_upsampling_modes(mode, crop, seeded):
    opt = make_opt(ngf=2, crop_size=crop, label_nc=3, contain_dontcare_label=False, num_upsampling_layers=mode)
    net = networks.define_G(opt, verbose=False)
    out = net(torch.rand(2, 3, crop, crop))
    assert out.shape == (2, 3, crop, crop)
    assert hasattr(net, 'up_4') == (mode == 'most')


def test_spade_generator_aspect_ratio(seeded):
    opt = make_opt(ngf=4, crop_size=128, aspect_ratio=2.0, label_nc=3, contain_dontcare_label=False)
    out = networks.define_G(opt, verbose=False)(torch.rand(1, 3, 64, 128))
    assert out.shape == (1, 3, 64, 128)


def test_vae_generator_and_encoder(seeded):
    opt = make_opt(ngf=4, crop_size=64, label_nc=3, contain_dontcare_label=False, use_vae=True, z_dim=16)
    net_g, net_e = networks.define_G(opt, verbose=False), networks.define_E(opt, verbose=False)
    mu, logvar = net_e(torch.rand(2, 3, 64, 64) * 2 - 1)  # crop < 256: SPADE's encoder crashed here
    assert mu.shape == logvar.shape == (2, 16)
    seg = torch.rand(2, 3, 64, 64)
    assert net_g(seg, z=mu).shape == (2, 3, 64, 64)
    assert net_g(seg).shape == (2, 3, 64, 64)
    net_g.eval()  # in training mode every call moves the spectral-norm vectors: no two calls agree
    assert not torch.equal(net_g(seg), net_g(seg))  # z drawn from the prior, afresh each call
    assert torch.equal(net_g(seg, z=mu), net_g(seg, z=mu))
    assert not torch.equal(net_g(seg, z=mu), net_g(seg, z=mu + 1))


def test_encoder_respects_nef_when_given():
    net = networks.define_E(make_opt(ngf=64, nef=8, crop_size=64, z_dim=32), verbose=False)
    assert net.layer1[0].weight_orig.shape[0] == 8
    assert net.fc_mu.out_features == 32


@pytest.mark.parametrize('norm_G,first_keys', [
    ('instance', ['model.1.0.weight']),
    ('spectralinstance', ['model.1.0.weight_orig', 'model.1.0.weight_u']),
    ('batch', ['model.1.0.weight', 'model.1.1.running_mean']),
    ('spectralsyncbatch', ['model.1.0.weight_orig', 'model.1.1.running_var']),
    ('none', ['model.1.weight', 'model.1.bias']),
])
def test_pix2pixhd_generator(norm_G, first_keys, seeded):
    opt = make_opt(netG='pix2pixhd', ngf=4, norm_G=norm_G, label_nc=3, contain_dontcare_label=False,
                   resnet_n_downsample=2, resnet_n_blocks=2)
    net = networks.define_G(opt, verbose=False)
    out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert all(key in net.state_dict() for key in first_keys)


def test_multiscale_discriminator_features(seeded):
    opt = make_opt(ndf=8, label_nc=3, contain_dontcare_label=False, num_D=3, n_layers_D=4)
    net = networks.define_D(opt, verbose=False)
    result = net(torch.rand(2, 3 + 3, 64, 64))
    assert len(result) == 3 and all(len(feats) == 5 for feats in result)
    assert [tuple(f.shape[1:2]) for f in result[0]] == [(8,), (16,), (32,), (64,), (1,)]
    assert result[0][-1].shape[-1] > result[1][-1].shape[-1] > result[2][-1].shape[-1]


def test_single_n_layer_discriminator(seeded):
    opt = make_opt(netD='n_layer', ndf=8, label_nc=3, contain_dontcare_label=False)
    feats = networks.define_D(opt, verbose=False)(torch.rand(1, 6, 32, 32))
    assert len(feats) == 5 and feats[-1].shape[1] == 1


# ---------------------------------------------------------------- initialisation
# SPADE's init_weights with gain = --init_variance 0.02, as torch.nn.init draws it:
# (distribution, std of the entries for a weight with these fans)
INIT_STATS = {
    'normal': ('normal', lambda fan_in, fan_out: 0.02),
    'xavier': ('normal', lambda fan_in, fan_out: 0.02 * (2 / (fan_in + fan_out)) ** 0.5),
    'xavier_uniform': ('uniform', lambda fan_in, fan_out: (2 / (fan_in + fan_out)) ** 0.5),  # gain 1
    'kaiming': ('normal', lambda fan_in, fan_out: (2 / fan_in) ** 0.5),
    'orthogonal': ('orthogonal', lambda fan_in, fan_out: None),
    'none': ('uniform', lambda fan_in, fan_out: (1 / (3 * fan_in)) ** 0.5),  # PyTorch's own default
}


@pytest.mark.parametrize('init_type', list(INIT_STATS))
def test_init_types(init_type, seeded):
    # a VAE generator, so that a Linear layer (fc, 16 -> 256) is initialised next to the convolutions
    opt = make_opt(ngf=4, crop_size=64, label_nc=3, contain_dontcare_label=False, init_type=init_type,
                   use_vae=True, z_dim=16)
    net = networks.define_G(opt, verbose=False)
    kind, std_of = INIT_STATS[init_type]
    # head_0.conv_0 is spectral (64x64x3x3: fan_in = fan_out = 576), fc a Linear (fan_in 16, fan_out 256)
    for weight, fan_in, fan_out in ((net.head_0.conv_0.weight_orig, 576, 576), (net.fc.weight, 16, 256)):
        matrix = weight.detach().flatten(1)
        if kind == 'orthogonal':  # orthogonal rows (or columns), each of norm gain
            gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
            torch.testing.assert_close(gram, 0.02 ** 2 * torch.eye(len(gram)), rtol=0, atol=1e-7)
            continue
        std = std_of(fan_in, fan_out)
        assert abs(matrix.std().item() / std - 1) < 0.05, (matrix.std().item(), std)
        assert abs(matrix.mean().item()) < 0.1 * std
        if kind == 'uniform':  # bounded by sqrt(3) std, and close to the bound
            assert 0.95 * 3 ** 0.5 * std < matrix.abs().max() <= 3 ** 0.5 * std * (1 + 1e-6)
        else:  # a normal sample of thousands reaches far beyond a uniform's sqrt(3) std
            assert matrix.abs().max() > 2.5 * std
    for bias in (net.fc.bias, net.head_0.conv_0.bias, net.head_0.norm_0.mlp_gamma.bias, net.conv_img.bias):
        assert torch.count_nonzero(bias) == 0  # SPADE zeroes biases whatever the type, 'none' included
    assert torch.isfinite(net(torch.rand(1, 3, 64, 64))).all()


def test_init_variance_sets_normal_std(seeded):
    opt = make_opt(netG='pix2pixhd', ngf=32, norm_G='instance', label_nc=3, contain_dontcare_label=False,
                   init_type='normal', init_variance=0.05)
    net = networks.define_G(opt, verbose=False)
    weight = net.model[1][0].weight
    assert abs(weight.std().item() - 0.05) < 0.005
    assert net.model[1][0].bias is None  # removed before instance norm, as SPADE does


def test_init_reaches_spectral_weight_orig(seeded):
    opt = make_opt(ngf=4, crop_size=64, label_nc=3, contain_dontcare_label=False, init_type='normal',
                   init_variance=0.5)
    net = networks.define_G(opt, verbose=False)
    assert abs(net.head_0.conv_0.weight_orig.std().item() - 0.5) < 0.05


# ---------------------------------------------------------------- same images as SPADE
@pytest.mark.parametrize('norm_G,mode,crop,aspect,hidden', [
    ('spectralspadesyncbatch3x3', 'normal', 64, 1.0, 128),
    ('spectralspadeinstance3x3', 'more', 128, 1.0, 128),
    ('spadebatch3x3', 'most', 256, 1.0, 128),
    ('spectralspadesyncbatch3x3', 'normal', 128, 2.0, 128),
    ('spectralspadebatch3x3', 'normal', 64, 1.0, 16),  # --spade_hidden 16
])
def test_generator_matches_functional_spade(norm_G, mode, crop, aspect, hidden, tmp_path):
    opt = make_opt(ngf=4, crop_size=crop, aspect_ratio=aspect, label_nc=6, contain_dontcare_label=False,
                   no_instance=False, norm_G=norm_G, num_upsampling_layers=mode, spade_hidden=hidden)
    net = networks.define_G(opt, verbose=False)
    state = ref.randomize_state(net, torch.Generator().manual_seed(1))
    path = tmp_path / 'latest_net_G.pth'
    torch.save(state, path)  # as SPADE writes it: a plain state dict
    net.load_state_dict(torch.load(path, weights_only=True), strict=True)
    net.eval()
    height, batch = round(crop / aspect), 2 if crop <= 128 else 1
    labels = torch.randint(0, 6, (batch, height, crop))
    seg = torch.nn.functional.one_hot(labels, 6).permute(0, 3, 1, 2).float()
    seg = torch.cat([seg, (torch.rand(batch, 1, height, crop) > 0.8).float()], dim=1)  # instance edges
    with torch.no_grad():
        ours = net(seg)
        theirs = ref.generator(state, seg, {'normal': 5, 'more': 6, 'most': 7}[mode], aspect)
        exact_ours = net.double()(seg.double())
        exact_theirs = ref.generator({k: v.double() if v.is_floating_point() else v for k, v in state.items()},
                                     seg.double(), {'normal': 5, 'more': 6, 'most': 7}[mode], aspect)
    assert ours.shape == theirs.shape == (batch, 3, height, crop)
    assert 0.05 < ours.abs().mean() < 0.95  # not saturated: the comparison means something
    assert torch.allclose(exact_ours, exact_theirs, atol=1e-10)
    # and as 8-bit images in float32, as test.py writes them: at most one grey level apart
    diff = (((ours + 1) * 127.5).to(torch.uint8).int() - ((theirs + 1) * 127.5).to(torch.uint8).int()).abs()
    assert diff.max() <= 1


def test_spectral_norm_power_iteration_only_in_training(seeded):
    net = SPADEGenerator(make_opt(ngf=4, crop_size=64, label_nc=3, contain_dontcare_label=False))
    u_before = net.head_0.conv_0.weight_u.clone()
    net.eval()
    net(torch.rand(1, 3, 64, 64))
    assert torch.equal(net.head_0.conv_0.weight_u, u_before)
    net.train()
    net(torch.rand(1, 3, 64, 64))
    assert not torch.equal(net.head_0.conv_0.weight_u, u_before)


# ---------------------------------------------------------------- --spade_hidden
def test_spade_hidden_defaults_to_spades_width():
    from options.train_options import TrainOptions
    opt = TrainOptions().parse(['--dataset_mode', 'synthetic', '--crop_size', '64', '--gpu_ids', '-1'], verbose=False)
    assert opt.spade_hidden == 128
    state = networks.define_G(make_opt(spade_hidden=opt.spade_hidden), verbose=False).state_dict()  # ADE20K's G
    assert tuple(state['head_0.norm_0.mlp_shared.0.weight'].shape) == (128, 151, 3, 3)  # SPADE's, as before
    assert tuple(state['up_3.norm_1.mlp_beta.weight'].shape) == (64, 128, 3, 3)


def test_spade_hidden_narrows_only_the_spade_layers(seeded):
    small = dict(ngf=4, crop_size=64, label_nc=5, contain_dontcare_label=False)
    wide = networks.define_G(make_opt(**small), verbose=False)
    narrow = networks.define_G(make_opt(**small, spade_hidden=16), verbose=False)
    wide_state, narrow_state = wide.state_dict(), narrow.state_dict()
    assert wide_state.keys() == narrow_state.keys()
    for key, value in wide_state.items():
        expected = list(value.shape)
        if '.mlp_shared.' in key:
            expected[0] = 16
        elif '.mlp_gamma.weight' in key or '.mlp_beta.weight' in key:
            expected[1] = 16
        assert list(narrow_state[key].shape) == expected, key
    # per SPADE layer, 128 - 16 fewer hidden channels: each had 5 * 3 * 3 inputs + a bias, and fed
    # gamma and beta (3 x 3 each) for the layer's channels
    spades = [m for m in narrow.modules() if type(m).__name__ == 'SPADE']
    saved = sum((128 - 16) * (5 * 9 + 1 + 2 * 9 * m.mlp_gamma.out_channels) for m in spades)
    assert len(spades) == 18 and count(wide) - count(narrow) == saved


def test_a_narrow_spade_trains_saves_its_width_and_loads_with_it(tmp_path):
    from models.pix2pix_model import Pix2PixModel
    from options.test_options import TestOptions
    from options.train_options import TrainOptions
    from trainers.loop import train
    args = tiny_args(tmp_path, 'narrow', '--synthetic_train_size', '2', '--no_vgg_loss', '--spade_hidden', '8',
                     '--print_freq', '1')  # the one iteration logs its losses
    assert train(TrainOptions().parse(args, save=True, verbose=False)) == 0
    run = tmp_path / 'narrow'
    assert json.loads((run / 'opt.json').read_text())['spade_hidden'] == 8
    state = torch.load(run / 'latest_net_G.pth', weights_only=True)
    assert state['head_0.norm_0.mlp_shared.0.weight'].shape[0] == 8
    log = (run / 'loss_log.txt').read_text()
    assert re.search(r'GAN: [-0-9.]+', log) and 'nan' not in log  # a training step ran and logged its losses
    opt = TestOptions().parse(['--name', 'narrow', '--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1',
                               '--load_from_opt_file'], verbose=False)
    assert opt.spade_hidden == 8  # from opt.json: the checkpoint loads with its own width
    model = Pix2PixModel(opt).eval()
    assert torch.equal(model.netG.state_dict()['head_0.norm_0.mlp_shared.0.weight'],
                       state['head_0.norm_0.mlp_shared.0.weight'])
