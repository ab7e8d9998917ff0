"""Confusion matrix, pixel accuracy and mIoU against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from data import synthetic
from evaluation.confusion import IGNORE_INDEX, ConfusionMatrix
from evaluation.settings import EvalSettings
from evaluation.suite import MetricSuite

TARGET = np.array([[0, 0, 1], [1, 2, IGNORE_INDEX]])
PREDICTED = np.array([[0, 1, 1], [1, 0, 2]])


def test_matrix_accuracy_and_iou_match_hand_computation():
    cm = ConfusionMatrix(4)
    cm.update(PREDICTED, TARGET)
    # (true, predicted) pairs: (0,0) (0,1) (1,1) (1,1) (2,0); the ignored pixel is not counted
    expected = np.array([[1, 1, 0, 0],
                         [0, 2, 0, 0],
                         [1, 0, 0, 0],
                         [0, 0, 0, 0]])
    np.testing.assert_array_equal(cm.matrix, expected)
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)
    iou = cm.iou_per_class()
    # class 0: TP 1, FP 1 (a 2 predicted as 0), FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3;
    # class 2: its only pixel missed, and the 2 predicted on the ignored pixel is no FP -> 0
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 0.0])
    assert math.isnan(iou[3])  # absent from labels and predictions: not in the mean
    assert cm.mean_iou() == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)


def test_class_only_predicted_counts_as_zero_iou():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([[1, 1]]), torch.tensor([[0, 0]]))
    assert cm.pixel_accuracy() == 0.0
    iou = cm.iou_per_class()
    assert iou[0] == 0.0 and iou[1] == 0.0 and math.isnan(iou[2])
    assert cm.mean_iou() == 0.0


def test_accumulating_batches_equals_one_update():
    rng = np.random.default_rng(0)
    target = rng.integers(-1, 5, size=(4, 8, 8))
    predicted = rng.integers(0, 5, size=(4, 8, 8))
    whole, parts = ConfusionMatrix(5), ConfusionMatrix(5)
    whole.update(predicted, target)
    for i in range(4):
        parts.update(torch.from_numpy(predicted[i]), torch.from_numpy(target[i]))
    np.testing.assert_array_equal(whole.matrix, parts.matrix)
    valid = target >= 0
    assert whole.total == valid.sum()
    assert whole.pixel_accuracy() == pytest.approx((predicted[valid] == target[valid]).mean())


def test_perfect_prediction_scores_one():
    labels = np.array([[0, 1], [2, 2]])
    cm = ConfusionMatrix(3)
    cm.update(labels, labels)
    assert cm.pixel_accuracy() == 1.0 and cm.mean_iou() == 1.0


def test_no_labelled_pixel_gives_nan():
    cm = ConfusionMatrix(2)
    cm.update(np.array([0, 1]), np.array([IGNORE_INDEX, IGNORE_INDEX]))
    assert math.isnan(cm.pixel_accuracy()) and math.isnan(cm.mean_iou())


def test_a_run_without_labelled_pixels_says_miou_is_not_defined():
    suite = MetricSuite(EvalSettings(), 'synthetic', ['miou'])  # the built-in dataset's oracle segmenter
    images = torch.from_numpy(np.stack([synthetic.render(i, 32, 0, 'test')[1] for i in range(2)])).permute(0, 3, 1, 2)
    run = suite.start()
    run.add(images, target=torch.full((2, 32, 32), IGNORE_INDEX))
    with pytest.warns(UserWarning, match='mIoU and pixel accuracy: not defined for these 2 images: no pixel of their '
                                         'label maps is labelled') as caught:
        results = run.results()
    assert len(caught) == 1 and math.isnan(results['miou']) and math.isnan(results['pixel_acc'])

    labelled = suite.start()  # a class absent from labels and predictions is simply not in the mean
    labelled.add(images, target=torch.from_numpy(np.stack([synthetic.render(i, 32, 0, 'test')[0] for i in range(2)])))
    assert labelled.results()['miou'] > 0.9


@pytest.mark.parametrize('predicted, target, message', [
    ([0, 3], [0, 1], r'prediction has class indices outside \[0, 3\): min 0, max 3'),
    ([0, 1], [0, 5], r'target has class indices outside \[0, 3\): min 0, max 5'),
    ([0], [0, 1], 'prediction and target differ in size: 1 vs 2 pixels')])
def test_out_of_range_or_mismatched_input_is_refused(predicted, target, message):
    with pytest.raises(ValueError, match=message):
        ConfusionMatrix(3).update(np.array(predicted), np.array(target))
