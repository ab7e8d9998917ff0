"""The frozen VGG19 feature extractor and its weights loader (no network: random or local weights)."""
import hashlib
import os
import urllib.error

import pytest
import torch
import torchvision

from models.networks import vgg
from models.networks.vgg import VGG19Features
from util.errors import CheckpointError, OptionError

pytestmark = pytest.mark.filterwarnings('ignore:--vgg_weights random')
DESIGN_TAPS = ['relu1_2', 'relu2_2', 'relu3_2', 'relu4_2', 'relu5_2']


def test_taps_have_the_right_shapes_and_are_relu_outputs():
    net = VGG19Features(['relu1_1'] + DESIGN_TAPS, 'random')
    out = net(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert list(out) == ['relu1_1'] + DESIGN_TAPS
    expected = {'relu1_1': (64, 32), 'relu1_2': (64, 32), 'relu2_2': (128, 16), 'relu3_2': (256, 8),
                'relu4_2': (512, 4), 'relu5_2': (512, 2)}
    for name, (channels, size) in expected.items():
        assert out[name].shape == (2, channels, size, size)
        assert (out[name] >= 0).all() and (out[name] > 0).any()
        assert vgg.layer_channels(name) == channels


def test_taps_are_the_named_torchvision_modules(tmp_path):
    # torchvision's vgg19().features with the same weights, cut after each tap, gives the same map
    # torchvision's own recipe for vgg19().features, without the 120M-parameter classifier
    reference = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs['E'])[:14].eval()
    path = tmp_path / 'trunk.pth'
    torch.save({f'features.{key}': value for key, value in reference.state_dict().items()}, path)
    net = VGG19Features(['relu3_2', 'relu1_2', 'relu2_1'], str(path))
    x = torch.rand(1, 3, 24, 24) * 2 - 1
    out = net(x)
    with torch.no_grad():
        for name, index in (('relu1_2', 3), ('relu2_1', 6), ('relu3_2', 13)):
            torch.testing.assert_close(out[name], reference[:index + 1](x.clone()), rtol=0, atol=0)
    assert list(out) == ['relu3_2', 'relu1_2', 'relu2_1']


def test_a_tapped_convolution_keeps_its_negative_values():
    net = VGG19Features(['conv1_2', 'relu1_2'], 'random')
    out = net(torch.rand(1, 3, 16, 16) * 2 - 1)
    assert (out['conv1_2'] < 0).any()
    torch.testing.assert_close(out['relu1_2'], out['conv1_2'].relu(), rtol=0, atol=0)


def test_forward_stops_at_the_deepest_tap():
    assert len(VGG19Features(['relu2_2'], 'random').features) == 9
    assert len(VGG19Features(['relu1_1', 'relu5_4'], 'random').features) == 36
    assert len(VGG19Features(DESIGN_TAPS, 'random').features) == 32


def test_frozen_and_always_in_eval_mode():
    net = VGG19Features(['relu1_2'], 'random')
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training


def test_normalize_standardises_with_imagenet_statistics():
    plain = VGG19Features(['relu1_1'], 'random')
    normed = VGG19Features(['relu1_1'], 'random', normalize=True)
    normed.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(normed(x)['relu1_1'], plain(((x + 1) / 2 - mean) / std)['relu1_1'])


def test_unknown_or_repeated_layers_name_the_option():
    with pytest.raises(OptionError, match='--vgg_layers.*relu6_1'):
        VGG19Features(['relu1_1', 'relu6_1'], 'random')
    with pytest.raises(OptionError, match='twice'):
        VGG19Features(['relu1_1', 'relu1_1'], 'random')


def test_random_weights_are_announced():
    with pytest.warns(UserWarning, match='UNTRAINED'):
        VGG19Features(['relu1_1'], 'random')


# -------------------------------------------------------------------------- loader errors
def test_missing_file_names_the_file_and_the_option(tmp_path):
    missing = str(tmp_path / 'nowhere.pth')
    with pytest.raises(CheckpointError, match='--vgg_weights') as info:
        VGG19Features(['relu1_1'], missing)
    assert missing in str(info.value)


def test_no_cached_file_and_no_network_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))

    def offline(*args, **kwargs):
        raise urllib.error.URLError('no network')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    with pytest.raises(CheckpointError) as info:
        VGG19Features(['relu1_1'], 'imagenet')
    message = str(info.value)
    assert 'vgg19-dcbb9e9d.pth' in message and '--vgg_weights' in message
    assert str(tmp_path / 'hub' / 'checkpoints') in message
    assert '\n' not in message


def test_corrupt_cached_file_fails_its_hash_check(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    url, cached = vgg.torchvision_weights_file()
    assert cached == str(tmp_path / 'checkpoints' / 'vgg19-dcbb9e9d.pth') and url.endswith('vgg19-dcbb9e9d.pth')
    os.makedirs(os.path.dirname(cached))
    torch.save({'0.weight': torch.zeros(1)}, cached)  # a loadable file, but not the right one

    def no_download(*args, **kwargs):
        raise AssertionError('a cached file must not be downloaded again')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_download)
    with pytest.raises(CheckpointError, match='SHA-256.*not dcbb9e9d') as info:
        VGG19Features(['relu1_1'], 'imagenet')
    assert cached in str(info.value)


def test_hashed_file_name_is_checked_and_accepted_when_it_matches(tmp_path):
    trunk = vgg.build_trunk(2)
    staging = tmp_path / 'staging.pth'
    torch.save(trunk.state_dict(), staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    good = tmp_path / f'trunk-{digest[:8]}.pth'
    staging.rename(good)
    net = VGG19Features(['relu1_1'], str(good))
    torch.testing.assert_close(net.features[0].weight, trunk[0].weight)
    bad = tmp_path / f'trunk-{"0" * 8 if digest[:8] != "0" * 8 else "1" * 8}.pth'
    good.rename(bad)
    with pytest.raises(CheckpointError, match='SHA-256'):
        VGG19Features(['relu1_1'], str(bad))


def test_a_file_that_is_not_a_vgg19_is_refused(tmp_path):
    wrong = tmp_path / 'wrong.pth'
    torch.save({'0.weight': torch.zeros(8, 3, 3, 3), '0.bias': torch.zeros(8)}, wrong)
    with pytest.raises(CheckpointError, match='not a torchvision VGG19'):
        VGG19Features(['relu1_1'], str(wrong))
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a pickle')
    with pytest.raises(CheckpointError, match='--vgg_weights file .*junk.pth is truncated, corrupt'):
        VGG19Features(['relu1_1'], str(junk))
