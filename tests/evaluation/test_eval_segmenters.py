"""Segmenters: the synthetic oracle, CSAIL's UPerNet-101 through mit-semseg, the plug-in registry."""
import numpy as np
import pytest
import torch

from data import synthetic
from evaluation import segmenters
from evaluation.segmenters import Segmenter, SegmenterSettings, build_segmenter, register_segmenter
from evaluation.segmenters.upernet_ade20k import (DECODER_FILE, ENCODER_FILE, NUM_CLASSES, UPerNetADE20K,
                                                  build_networks, load_strict, scaled_size)
from evaluation.settings import EvalSettings
from evaluation.suite import MetricSuite
from util.errors import CheckpointError, UserError


def rendered(count: int, size: int = 64, first: int = 0):
    """(images (N,3,H,W) float in [-1,1], labels (N,H,W) int64) of the synthetic test split."""
    pairs = [synthetic.render(i, size, 0, 'test') for i in range(first, first + count)]
    images = torch.from_numpy(np.stack([image for _, image in pairs])).permute(0, 3, 1, 2).float() / 127.5 - 1
    labels = torch.from_numpy(np.stack([label for label, _ in pairs]).astype(np.int64))
    return images, labels


def test_oracle_scores_ground_truth_images_almost_perfectly():
    suite = MetricSuite(EvalSettings(), 'synthetic', ['miou'])
    run = suite.start()
    images, labels = rendered(6)
    run.add(images[:3], label=labels[:3].unsqueeze(1))  # the loader's (B,1,H,W) label tensors
    run.add(images[3:], label=labels[3:])
    results = run.results()
    assert results['pixel_acc'] >= 0.95 and results['miou'] >= 0.8
    assert results['num_images'] == 6


def test_oracle_gives_no_credit_to_a_flat_image():
    suite = MetricSuite(EvalSettings(), 'synthetic', ['miou'])
    run = suite.start()
    images, labels = rendered(4)
    run.add(torch.zeros_like(images), label=labels)
    assert run.results()['pixel_acc'] < 0.5


@pytest.fixture(scope='module')
def networks():
    torch.manual_seed(0)
    return build_networks()


@pytest.fixture(scope='module')
def upernet_dir(tmp_path_factory, networks):
    """Random-weight checkpoints named and shaped like CSAIL's release."""
    folder = tmp_path_factory.mktemp('upernet')
    encoder, decoder = networks
    torch.save(encoder.state_dict(), folder / ENCODER_FILE)
    torch.save(decoder.state_dict(), folder / DECODER_FILE)
    return folder


def test_upernet_loads_strictly_and_segments_a_tiny_image(upernet_dir):
    segmenter = build_segmenter('ade20k', SegmenterSettings(str(upernet_dir), 'cpu', (64,)))
    saved = torch.load(upernet_dir / DECODER_FILE, weights_only=True)
    torch.testing.assert_close(segmenter.decoder.conv_last[1].weight, saved['conv_last.1.weight'])
    images = torch.rand(1, 3, 64, 64) * 2 - 1
    predicted = segmenter(images)
    assert predicted.shape == (1, 64, 64) and predicted.dtype == torch.int64
    assert 0 <= int(predicted.min()) and int(predicted.max()) < NUM_CLASSES


def test_upernet_refuses_a_wrong_checkpoint(upernet_dir, networks, tmp_path):
    encoder, _ = networks
    with pytest.raises(CheckpointError, match='missing keys.*unexpected keys'):
        load_strict(encoder, str(upernet_dir / DECODER_FILE))  # the decoder's file given as the encoder's
    state = torch.load(upernet_dir / ENCODER_FILE, weights_only=True)
    state['layer4.2.conv3.weight'] = state['layer4.2.conv3.weight'][:10]
    torch.save(state, tmp_path / 'reshaped.pth')
    with pytest.raises(CheckpointError, match='shape differences layer4.2.conv3.weight'):
        load_strict(encoder, str(tmp_path / 'reshaped.pth'))
    (tmp_path / 'junk.pth').write_bytes(b'junk')
    with pytest.raises(CheckpointError, match='junk.pth is truncated, corrupt or not a PyTorch state dict'):
        load_strict(encoder, str(tmp_path / 'junk.pth'))


def test_upernet_accepts_checkpoints_without_version_dependent_batchnorm_buffers(upernet_dir, networks, tmp_path):
    # files saved by older torch / mit-semseg lack these; inference does not use them
    state = torch.load(upernet_dir / ENCODER_FILE, weights_only=True)
    dropped = {k: v for k, v in state.items()
               if not k.endswith(('num_batches_tracked', '_tmp_running_mean', '_tmp_running_var', '_running_iter'))}
    assert len(dropped) < len(state)
    torch.save(dropped, tmp_path / 'old.pth')
    encoder, _ = networks
    with torch.no_grad():
        encoder.bn1.running_var.fill_(-1.0)
    load_strict(encoder, str(tmp_path / 'old.pth'))
    torch.testing.assert_close(encoder.bn1.running_var, state['bn1.running_var'])


def test_upernet_without_weights_names_the_files_and_option(tmp_path):
    with pytest.raises(UserError, match=f'{ENCODER_FILE}.*--seg_weights'):
        build_segmenter('ade20k', SegmenterSettings())
    with pytest.raises(UserError, match='does not exist'):
        UPerNetADE20K(str(tmp_path))


def test_test_scales_follow_the_csail_protocol():
    assert scaled_size(256, 256, 300) == (320, 320)       # 300 rounded up to a multiple of 32
    assert scaled_size(256, 512, 300) == (320, 608)       # short side 300, long side 600 -> 608
    assert scaled_size(100, 1000, 600) == (128, 1024)     # long side capped at 1000: scale 1.0


class HalfSegmenter(Segmenter):
    """A plug-in for the test: class 1 where red > green, else 0."""
    name = 'half'
    num_classes = 2

    def predict(self, images):
        return (images[:, 0] > images[:, 1]).long()


def test_a_registered_segmenter_is_used_for_its_dataset_mode(monkeypatch):
    monkeypatch.setitem(segmenters.SEGMENTERS, 'toy', lambda settings: HalfSegmenter())
    with pytest.raises(UserError, match='no segmenter for --dataset_mode cityscapes.*leave miou out of --metrics'):
        build_segmenter('cityscapes', SegmenterSettings())
    with pytest.raises(UserError, match='mIoU needs --dataset_mode'):
        build_segmenter(None, SegmenterSettings())
    register_segmenter('toy', lambda settings: HalfSegmenter())
    suite = MetricSuite.for_dataset(EvalSettings(metrics=('miou',)), 'toy', have_labels=True)
    run = suite.start()
    images = -torch.ones(1, 3, 2, 2)
    images[0, 0, 0, :] = 1  # top row red
    run.add(images, target=torch.tensor([[[1, 1], [0, 1]]]))
    results = run.results()
    # confusion: (1,1) (1,1) (0,0) (1,0): accuracy 3/4, IoU 1/2 and 2/3
    assert results['pixel_acc'] == pytest.approx(0.75)
    assert results['miou'] == pytest.approx((1 / 2 + 2 / 3) / 2)
