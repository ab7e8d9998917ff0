"""The two evaluation paths give the same numbers on each dataset's own layout.

In memory: the data loader's images and label tensors (training's ``--eval_freq``,
``evaluate.py --name``). On files: ``evaluate.py --fake_dir --real_dir --label_dir`` on the
images test.py writes and the dataset's own label files. The generator is a painter that writes
each pixel's label value into its colour, and the segmenter (registered in place of the real
one, the same in both paths) reads the value back as the class a perfect segmenter of that
dataset would predict; the metrics themselves are the real code.
"""
import os

import numpy as np
import pytest
import torch
from eval_helpers import inception_weights_file, write_images
from PIL import Image

from data_fixtures import build_ade20k, build_celebahq_prepared, build_cityscapes, build_coco, inference_opt
from evaluation import segmenters
from evaluation.generator_eval import GeneratorEvaluator
from evaluation.options import settings_from_opt
from evaluation.run import evaluate_folders
from evaluation.segmenters import Segmenter
from util import util
from util.errors import UserError

CPU = torch.device('cpu')
WRONG_VALUE = 3   # what the painter puts in its first WRONG_ROWS rows, whatever the label
WRONG_ROWS = 5


def paint(values: torch.Tensor) -> torch.Tensor:
    """(B,H,W) label values 0..255 -> (B,3,H,W) images in [-1,1]: red and green spell the value
    in base 16, each digit in the middle of a 16-wide band so that 8-bit truncation keeps it."""
    values = values.long()
    rgb = torch.stack([(values // 16) * 16 + 8, (values % 16) * 16 + 8, torch.full_like(values, 128)], dim=1)
    return rgb.float() / 127.5 - 1


def painter(label: torch.Tensor, _real: torch.Tensor) -> torch.Tensor:
    """A 'generator' that gets everything right but its first rows."""
    values = label[:, 0].clone()
    values[:, :WRONG_ROWS] = WRONG_VALUE
    return paint(values)


class ValueReader(Segmenter):
    """Reads the painted value back and predicts ``value - offset``, the class a perfect
    segmenter of the dataset predicts for an object of that value."""
    name = 'value reader'

    def __init__(self, num_classes: int, offset: int):
        self.num_classes, self.offset = num_classes, offset

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        codes = torch.round((images + 1) * 127.5).long()
        values = (codes[:, 0] // 16) * 16 + codes[:, 1] // 16
        return (values - self.offset).clamp(0, self.num_classes - 1)


def loader_inputs(batch: dict) -> tuple:
    return batch['label'], batch['image']


def eval_opt(mode: str, root: str, *extra: str):
    return inference_opt('--dataset_mode', mode, '--dataroot', root, '--phase', 'val', '--gpu_ids', '-1',
                         '--fid_weights', inception_weights_file(), '--fid_dims', '64', '--fid_cache_dir', '',
                         '--eval_batch_size', '2', *extra)


def save_like_test_py(evaluator: GeneratorEvaluator, folder) -> tuple[str, str]:
    """The painter's images and the loader's real images as test.py saves them (8-bit PNGs
    named after the real image); returns (fake_dir, real_dir)."""
    fake_dir, real_dir = str(folder / 'synthesized_image'), str(folder / 'real_image')
    for batch in evaluator.loader():
        names = [os.path.splitext(os.path.basename(path))[0] for path in batch['path']]
        write_images(fake_dir, util.tensor2im(painter(*loader_inputs(batch))), names)
        write_images(real_dir, util.tensor2im(batch['image']), names)
    return fake_dir, real_dir


def both_paths(opt, fake_dir: str, real_dir: str, label_dir: str) -> tuple[dict, dict]:
    evaluator = GeneratorEvaluator(opt, opt.phase, CPU, loader_inputs)
    in_memory = evaluator.score(painter)
    on_files = evaluate_folders(fake_dir, real_dir, label_dir, dataset_mode=opt.dataset_mode,
                                settings=settings_from_opt(opt), progress=False)
    return in_memory, on_files


def expected_ade20k_accuracy(label_dir: str, size: tuple) -> float:
    """Pixel accuracy counted by hand: labelled pixels (value > 0) outside the wrong rows, or in
    them where the label happens to be the painted value."""
    correct = labelled = 0
    for name in sorted(os.listdir(label_dir)):
        values = np.asarray(Image.open(os.path.join(label_dir, name)).resize(size, Image.NEAREST)).astype(int)
        painted = values.copy()
        painted[:WRONG_ROWS] = WRONG_VALUE
        labelled += int((values > 0).sum())
        correct += int(((values > 0) & (painted == values)).sum())
    return correct / labelled


@pytest.mark.parametrize('size', [(32, 32), (48, 32)], ids=['same size', 'resized'])
def test_ade20k_in_memory_and_on_files_agree_and_leave_unlabeled_out(tmp_path, monkeypatch, size):
    # ADE20K annotations: 0 = unlabeled, 1..150 = classes that UPerNet numbers 0..149
    monkeypatch.setitem(segmenters.SEGMENTERS, 'ade20k', lambda settings: ValueReader(150, offset=1))
    root = build_ade20k(str(tmp_path / 'data'), n_train=1, n_val=3, size=size)['dataroot']
    opt = eval_opt('ade20k', root, '--load_size', '32', '--crop_size', '32', '--metrics', 'fid,miou')
    fake_dir, real_dir = save_like_test_py(GeneratorEvaluator(opt, opt.phase, CPU, loader_inputs), tmp_path)
    label_dir = os.path.join(root, 'annotations', 'validation')  # the dataset's own files
    in_memory, on_files = both_paths(opt, fake_dir, real_dir, label_dir)
    for key in ('miou', 'pixel_acc', 'fid', 'num_images'):
        assert in_memory[key] == pytest.approx(on_files[key], rel=1e-9), key
    assert in_memory['pixel_acc'] == pytest.approx(expected_ade20k_accuracy(label_dir, (32, 32)), rel=1e-12)
    assert 0.2 < in_memory['miou'] < 1 and in_memory['num_images'] == 3


def without_segmenter(mode: str, tmp_path) -> tuple:
    """(options, label folder) of a tiny tree of a dataset mode that has no segmenter here."""
    if mode == 'cityscapes':
        root = build_cityscapes(str(tmp_path / 'data'), cities=('aachen',), per_city=3, splits=('val',))['dataroot']
        extra = ('--load_size', '64', '--crop_size', '64', '--num_upsampling_layers', 'normal')
        return eval_opt(mode, root, *extra), os.path.join(root, 'gtFine', 'val', 'aachen')
    if mode == 'celebahq':  # CoCosNet/MoNCE's prepared layout: merged maps plus the glasses masks
        root = build_celebahq_prepared(str(tmp_path / 'data'), val_ids=(2001, 2002, 2003))['dataroot']
        return (eval_opt(mode, root, '--load_size', '32', '--crop_size', '32'),
                os.path.join(root, 'CelebAMask-HQ-mask-anno', 'all_parts_except_glasses'))
    root = build_coco(str(tmp_path / 'data'), n_train=1, n_val=3)['dataroot']
    return eval_opt(mode, root, '--load_size', '32', '--crop_size', '32'), os.path.join(root, 'val_label')


@pytest.mark.parametrize('mode', ['cityscapes', 'celebahq', 'coco'])
def test_modes_without_a_segmenter_refuse_miou_alike_on_both_paths(tmp_path, mode):
    opt, label_dir = without_segmenter(mode, tmp_path)
    opt.metrics = 'fid,miou'
    with pytest.raises(UserError) as in_memory:
        GeneratorEvaluator(opt, opt.phase, CPU, loader_inputs)
    with pytest.raises(UserError) as on_files:  # before looking at any file
        evaluate_folders(str(tmp_path / 'nothing'), str(tmp_path / 'nothing'), label_dir, dataset_mode=mode,
                         settings=settings_from_opt(opt), progress=False)
    assert str(in_memory.value) == str(on_files.value)
    assert str(in_memory.value).startswith(f'no segmenter for --dataset_mode {mode}: mIoU is available for ade20k')


@pytest.mark.parametrize('mode, metrics', [('cityscapes', ['fid']), ('celebahq', ['fid', 'swd']),
                                           ('coco', ['fid'])])
def test_modes_without_a_segmenter_agree_on_the_other_metrics(tmp_path, mode, metrics):
    opt, label_dir = without_segmenter(mode, tmp_path)
    fake_dir, real_dir = save_like_test_py(GeneratorEvaluator(opt, opt.phase, CPU, loader_inputs), tmp_path)
    # label files are named unlike the images here: unused, they need not pair up
    with pytest.warns(UserWarning, match=f"--label_dir '.*' is not used: no segmenter for --dataset_mode {mode}"):
        in_memory, on_files = both_paths(opt, fake_dir, real_dir, label_dir)
    assert on_files['info']['metrics'] == metrics and on_files['info']['label_dir'] is None
    assert set(in_memory) == set(on_files) - {'info'}
    for key in in_memory:  # fid, num_images and, for CelebAMask-HQ, swd and swd_levels (a dict)
        assert in_memory[key] == pytest.approx(on_files[key], rel=1e-9), key
    assert in_memory['num_images'] == 3
