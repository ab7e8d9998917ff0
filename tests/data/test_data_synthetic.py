"""The built-in synthetic dataset: determinism, splits, looks, and the oracle segmenter."""
import numpy as np
import pytest
import torch

import data
from data import synthetic
from data_fixtures import inference_opt, train_opt


def as_input(image: np.ndarray) -> torch.Tensor:
    """uint8 (H,W,3) -> (1,3,H,W) in [-1,1], as a generator outputs."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div(127.5).sub(1)[None]


def accuracy(images: torch.Tensor, labels: np.ndarray) -> float:
    return float((synthetic.oracle_segment(images).numpy() == labels).mean())


def test_render_shapes_dtypes_and_classes():
    labels, image = synthetic.render(0, 64, seed=0, split='train')
    assert labels.shape == (64, 64) and labels.dtype == np.uint8
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert labels.max() < synthetic.NUM_CLASSES
    assert len(synthetic.CLASS_NAMES) == synthetic.NUM_CLASSES == 8


def test_render_is_deterministic_and_depends_on_index_seed_and_split():
    first = synthetic.render(5, 48, seed=3, split='test')
    again = synthetic.render(5, 48, seed=3, split='test')
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    for other in (synthetic.render(6, 48, 3, 'test'), synthetic.render(5, 48, 4, 'test'),
                  synthetic.render(5, 48, 3, 'train')):
        assert not np.array_equal(first[1], other[1])


def test_train_and_test_splits_are_disjoint():
    train = {synthetic.render(i, 32, 0, 'train')[1].tobytes() for i in range(40)}
    test = {synthetic.render(i, 32, 0, 'test')[1].tobytes() for i in range(40)}
    assert len(train) == 40 and len(test) == 40
    assert not train & test


def test_same_scene_at_any_size():
    small, _ = synthetic.render(2, 32, 0, 'train')
    large, _ = synthetic.render(2, 128, 0, 'train')
    # the large map sampled at the small map's pixel centres is (nearly) the small map
    assert (large[2::4, 2::4] == small).mean() > 0.97


def test_every_class_is_common_and_the_background_does_not_dominate():
    counts = np.zeros(synthetic.NUM_CLASSES)
    for i in range(40):
        counts += np.bincount(synthetic.render(i, 32, 0, 'train')[0].ravel(), minlength=synthetic.NUM_CLASSES)
    share = counts / counts.sum()
    assert share.min() > 0.04
    assert share[0] < 0.5


def test_classes_differ_in_colour_and_regions_are_textured_and_shaded():
    labels, image = synthetic.render(1, 128, 0, 'train')
    means = {}
    for cls in np.unique(labels):
        pixels = image[labels == cls].astype(float)
        if len(pixels) > 200:
            means[cls] = pixels.mean(0)
            brightness = pixels.max(1)
            assert brightness.std() > 8, f'class {cls} looks flat'
    colours = np.array(list(means.values()))
    gaps = np.linalg.norm(colours[:, None] - colours[None], axis=2) + np.eye(len(colours)) * 1e9
    assert gaps.min() > 40


def test_oracle_recovers_rendered_test_images():
    labels, images = zip(*(synthetic.render(i, 64, 0, 'test') for i in range(24)))
    batch = torch.cat([as_input(im) for im in images])
    predicted = synthetic.oracle_segment(batch)
    assert predicted.shape == (24, 64, 64) and predicted.dtype == torch.int64
    assert accuracy(batch, np.stack(labels)) >= 0.95


def test_oracle_scores_flat_grey_and_mismatched_images_poorly():
    labels, images = zip(*(synthetic.render(i, 64, 0, 'test') for i in range(12)))
    labels = np.stack(labels)
    grey = torch.zeros(12, 3, 64, 64)
    assert accuracy(grey, labels) < 0.5
    shuffled = torch.cat([as_input(im) for im in images[1:] + images[:1]])
    assert accuracy(shuffled, labels) < 0.5


def test_oracle_scores_class_swapped_images_poorly():
    labels, _ = synthetic.render(3, 64, 0, 'test')
    swap = np.roll(np.arange(synthetic.NUM_CLASSES), 1)  # every class painted as the next one
    swapped_rgb = (synthetic.CLASS_RGB[swap[labels]] * 0.8 * 255).astype(np.uint8)
    true_rgb = (synthetic.CLASS_RGB[labels] * 0.8 * 255).astype(np.uint8)
    assert accuracy(as_input(true_rgb), labels[None]) == 1.0
    assert accuracy(as_input(swapped_rgb), labels[None]) == 0.0


def test_oracle_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r'expected \(B,3,H,W\) images, got shape \(3, 8, 8\)'):
        synthetic.oracle_segment(torch.zeros(3, 8, 8))


def test_render_rejects_unknown_split():
    with pytest.raises(ValueError, match="split must be one of \\['test', 'train'\\], got 'validation'"):
        synthetic.render(0, 8, 0, 'validation')


def test_default_options_select_the_synthetic_demo_setup():
    opt = train_opt()
    assert opt.dataset_mode == 'synthetic'
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance) == (synthetic.NUM_CLASSES, False, True)
    assert (opt.crop_size, opt.preprocess_mode, opt.semantic_nc) == (128, 'fixed', synthetic.NUM_CLASSES)


def test_dataset_serves_rendered_scenes_per_split():
    opt = train_opt('--crop_size', '64', '--synthetic_train_size', '10')
    dataset = data.create_dataset(opt)
    assert len(dataset) == 10 and dataset.has_images
    item = dataset[4]
    labels, image = synthetic.render(4, 64, opt.synthetic_seed, 'train')
    assert item['label'].shape == (1, 64, 64) and item['label'].dtype == torch.int64
    assert torch.equal(item['label'][0], torch.from_numpy(labels).long())
    assert torch.allclose(item['image'], as_input(image)[0], atol=1e-6)
    assert item['instance'] == 0 and item['path'].endswith('000004.png')
    test_set = data.create_dataset(inference_opt('--crop_size', '64', '--max_dataset_size', '7'))
    assert len(test_set) == 7 and 'test' in test_set[0]['path']
    assert not torch.equal(test_set[4]['image'], item['image'])
    with pytest.raises(IndexError):
        dataset[10]
