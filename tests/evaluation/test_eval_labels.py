"""Label conventions: one table per dataset mode turns label values into the segmenter's classes,
for label files and the data loader's tensors alike."""
import numpy as np
import pytest
import torch

from data import synthetic
from data_fixtures import CITY_INSTANCES, build_cityscapes, inference_opt
from evaluation import labels as conventions, segmenters
from evaluation.confusion import IGNORE_INDEX
from evaluation.labels import (ADE20K, CITYSCAPES, LABEL_CONVENTIONS, class_indices, dataset_target,
                               label_convention)
from evaluation.segmenters import Segmenter, register_segmenter
from evaluation.settings import EvalSettings
from evaluation.suite import MetricSuite
from util.errors import DatasetError, UserError

IGNORED = IGNORE_INDEX


def test_ade20k_values_are_classes_plus_one_and_zero_is_unlabeled():
    assert label_convention('ade20k', 150) is ADE20K and ADE20K.num_classes == 150
    np.testing.assert_array_equal(ADE20K.target(np.array([[0, 1, 2, 150]])), [[IGNORED, 0, 1, 149]])
    with pytest.raises(ValueError, match=r'151, 255 are not ADE20K annotation values \(0 = unlabeled'):
        ADE20K.target(np.array([151, 255, 3]))


def test_loader_tensors_and_label_files_give_the_same_targets():
    values = np.array([[0, 7, 150], [1, 0, 149]], dtype=np.uint8)  # a file as PIL reads it
    from_file = ADE20K.target(values)
    from_loader = dataset_target(ADE20K, torch.from_numpy(values.astype(np.int64))[None, None])  # (B,1,H,W)
    assert isinstance(from_file, np.ndarray) and from_loader.shape == (1, 2, 3)
    np.testing.assert_array_equal(from_loader[0].numpy(), from_file)


def test_other_modes_hold_class_indices_and_spade_dontcare_is_not_scored():
    n = synthetic.NUM_CLASSES
    labels = label_convention('synthetic', n)
    assert labels == class_indices(n) and labels.num_classes == n
    np.testing.assert_array_equal(labels.target(np.array([0, n - 1, n, 255])), [0, n - 1, IGNORED, IGNORED])
    with pytest.raises(ValueError, match=f'{n + 1} are not class indices 0..{n - 1}'):
        labels.target(np.array([n + 1]))
    with pytest.raises(ValueError, match='-1'):
        labels.target(torch.tensor([-1]))


def test_cityscapes_label_ids_become_train_ids(tmp_path):
    # the fixture's stripes: road 7, car 26, bicycle 33, person 24 / rider 25
    tree = build_cityscapes(str(tmp_path), cities=('aachen',), per_city=2, splits=('val',))
    assert CITY_INSTANCES[0] == 7
    expected = {7: 0, 26: 13, 33: 18, 24: 11, 25: 12}
    for values in tree['labels'].values():
        np.testing.assert_array_equal(CITYSCAPES.target(np.array(values)), [expected[v] for v in values])
    np.testing.assert_array_equal(CITYSCAPES.target(np.array([0, 1, 6, 9, 10, 34])), [IGNORED] * 6)
    assert CITYSCAPES.num_classes == 19 and sorted(set(CITYSCAPES.table) - {IGNORED}) == list(range(19))
    with pytest.raises(ValueError, match='35, 255 are not Cityscapes label ids'):
        CITYSCAPES.target(np.array([35, 255]))


def test_the_cityscapes_loader_yields_the_values_of_its_files(tmp_path):
    import data
    tree = build_cityscapes(str(tmp_path), cities=('aachen',), per_city=1, splits=('val',))
    opt = inference_opt('--dataset_mode', 'cityscapes', '--dataroot', tree['dataroot'], '--load_size', '64',
                        '--crop_size', '64', '--num_upsampling_layers', 'normal', '--gpu_ids', '-1')
    item = data.create_dataset(opt)[0]
    (values,) = tree['labels'].values()
    assert sorted(item['label'].unique().tolist()) == sorted(values)
    assert set(dataset_target(CITYSCAPES, item['label'][None]).unique().tolist()) == {0, 13, 18, 11}


class Tiny(Segmenter):
    name = 'tiny'
    num_classes = 3

    def predict(self, images):
        return torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.int64)


@pytest.fixture
def registries():
    """Restores the segmenter and convention registries after the test."""
    saved = dict(segmenters.SEGMENTERS), dict(LABEL_CONVENTIONS)
    yield
    for registry, content in zip((segmenters.SEGMENTERS, LABEL_CONVENTIONS), saved):
        registry.clear()
        registry.update(content)


def test_a_plug_in_brings_its_convention_or_uses_class_indices(registries):
    register_segmenter('toy', lambda settings: Tiny())
    assert 'toy' not in LABEL_CONVENTIONS
    assert MetricSuite(EvalSettings(), 'toy', ['miou']).labels == class_indices(3)
    shifted = conventions.from_pairs('toy values', 5, {2: 0, 3: 1, 4: 2}, ignored=[0, 1])
    register_segmenter('toy', lambda settings: Tiny(), labels=shifted)
    suite = MetricSuite(EvalSettings(), 'toy', ['miou'])
    assert suite.labels is shifted
    run = suite.start()
    run.add(torch.zeros(1, 3, 1, 4), label=torch.tensor([[[[0, 2, 2, 3]]]]))  # predicts class 0 everywhere
    assert run.results()['pixel_acc'] == pytest.approx(2 / 3)


def test_a_convention_with_more_classes_than_the_segmenter_is_refused(monkeypatch):
    monkeypatch.setitem(segmenters.SEGMENTERS, 'ade20k', lambda settings: Tiny())
    with pytest.raises(UserError, match='map to 150 classes but its segmenter predicts 3'):
        MetricSuite(EvalSettings(), 'ade20k', ['miou'])


def test_loader_values_outside_the_convention_name_the_option(monkeypatch):
    monkeypatch.setitem(segmenters.SEGMENTERS, 'synthetic', lambda settings: Tiny())
    run = MetricSuite(EvalSettings(), 'synthetic', ['miou']).start()
    with pytest.raises(DatasetError, match="data loader's labels of --dataset_mode synthetic: label value.* 9 .*"
                                           "--label_nc"):
        run.add(torch.zeros(1, 3, 1, 2), label=torch.tensor([[[[0, 9]]]]))
