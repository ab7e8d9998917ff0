"""Each dataset mode states its label conventions once (its class's ``labels``, data/conventions.py),
and every reader takes them from there: the painter's names and swatches, evaluation's segmenter
classes and dontcare, the loader's and the painter's dontcare, test.py's label colours, export."""
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

import data
from data.conventions import DatasetLabels, label_channels, label_image
from data.custom_dataset import CustomDataset
from data_fixtures import inference_opt, stripes, write_image
from evaluation.confusion import IGNORE_INDEX
from evaluation.labels import label_convention
from inference.export import DENSE_LABELS
from painter.classes import class_table
from painter.labelmaps import read_label_upload

MODES = sorted(data.DATASETS)


def mode_opt(mode: str):
    extra = ['--label_dir', os.sep] if mode == 'custom' else []
    return inference_opt('--dataset_mode', mode, '--dataroot', os.path.join(os.sep, 'nowhere'), '--gpu_ids', '-1',
                         *extra)


@pytest.mark.parametrize('mode', MODES)
def test_the_painter_names_and_colours_the_values_as_the_dataset_says(mode):
    opt = mode_opt(mode)
    labels, table = data.dataset_labels(opt), class_table(opt)
    assert len(table) == label_channels(opt) and table.note == labels.note
    for index, name in enumerate(table.names):
        given = labels.names[index] if index < len(labels.names) else ''
        numbered = 'dontcare' if opt.contain_dontcare_label and index == opt.label_nc else f'class {index}'
        assert name == (given or numbered)
    if labels.colors:
        np.testing.assert_array_equal(table.colors, np.array(labels.colors[:len(table)]))
    else:  # the colours test.py gives input_label images (and training's logged grids)
        shown = label_image(torch.arange(len(table)).reshape(1, 1, -1), opt)[0]
        np.testing.assert_array_equal(table.colors, shown)


@pytest.mark.parametrize('mode', MODES)
def test_evaluation_scores_the_values_as_the_dataset_says(mode):
    labels = data.DATASETS[mode].labels
    convention = label_convention(mode, 8)
    if labels.segmenter is not None:
        values = np.arange(labels.segmenter.values)
        expected = [labels.segmenter.classes.get(v, IGNORE_INDEX) for v in values]
        np.testing.assert_array_equal(convention.target(values), expected)
        with pytest.raises(ValueError, match=labels.segmenter.description.split(' (')[0]):
            convention.target(np.array([labels.segmenter.values]))
    else:  # the values are the classes; SPADE's dontcare (index and file value) is not scored
        np.testing.assert_array_equal(convention.target(np.array([0, 7, 8, labels.dontcare])),
                                      [0, 7, IGNORE_INDEX, IGNORE_INDEX])


def test_export_takes_dense_labels_from_the_datasets():
    assert DENSE_LABELS == {mode for mode in MODES if data.DATASETS[mode].labels.dense} == {'deepfashion'}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format='PNG')
    return buffer.getvalue()


def test_a_change_to_a_dataset_table_reaches_every_reader(tmp_path, monkeypatch):
    """With ``custom``'s table saying dontcare is 200 (not SPADE's 255) and naming two classes,
    the loader, the painter and evaluation all follow it."""
    ours = DatasetLabels(names=('sea', '', 'sand'), dontcare=200,
                         colors=((0, 0, 255), (9, 9, 9), (200, 180, 0), (1, 2, 3), (4, 5, 6)))
    monkeypatch.setattr(CustomDataset, 'labels', ours)
    values = [0, 1, 200, 3]
    write_image(str(tmp_path / 'labels' / 'a.png'), stripes(values, (32, 16)))
    write_image(str(tmp_path / 'images' / 'a.png'), np.zeros((16, 32, 3), np.uint8))
    opt = inference_opt('--dataset_mode', 'custom', '--label_dir', str(tmp_path / 'labels'), '--image_dir',
                        str(tmp_path / 'images'), '--label_nc', '4', '--contain_dontcare_label', '--no_instance',
                        '--preprocess_mode', 'none', '--gpu_ids', '-1')
    assert data.dataset_labels(opt) is ours
    # the loader: 200 is dontcare, the channel after the classes
    label = data.create_dataset(opt)[0]['label']
    assert sorted(label.unique().tolist()) == [0, 1, 3, 4]
    # the painter: names, swatches, and an uploaded map's dontcare
    table = class_table(opt)
    assert table.names == ['sea', 'class 1', 'sand', 'class 3', 'dontcare']
    np.testing.assert_array_equal(table.colors, np.array(ours.colors))
    upload, _ = read_label_upload(png(stripes(values, (32, 16))), 'a.png', opt, (32, 16), len(table))
    assert sorted(np.unique(upload).tolist()) == [0, 1, 3, 4]
    # evaluation: 200 is not scored, 255 is no value of this dataset
    np.testing.assert_array_equal(label_convention('custom', 4).target(np.array([3, 4, 200])),
                                  [3, IGNORE_INDEX, IGNORE_INDEX])
    with pytest.raises(ValueError, match='255'):
        label_convention('custom', 4).target(np.array([255]))
