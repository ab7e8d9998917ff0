"""Confusion matrix of a segmenter's predictions against label maps, and the scores papers
report from it: pixel accuracy and mean IoU.

Ground-truth pixels below zero (:data:`IGNORE_INDEX`, e.g. ADE20K's "unlabeled") are not
counted at all: neither as correct, nor as a false positive of the predicted class.
"""
from typing import Union

import numpy as np
import torch

IGNORE_INDEX = -1

Array = Union[np.ndarray, torch.Tensor]


class ConfusionMatrix:
    """Counts ``matrix[true, predicted]`` over every evaluated pixel."""

    def __init__(self, num_classes: int):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, predicted: Array, target: Array) -> None:
        """Adds same-shaped maps of class indices; target pixels < 0 are ignored."""
        predicted = torch.as_tensor(predicted).detach().cpu().long().reshape(-1)
        target = torch.as_tensor(target).detach().cpu().long().reshape(-1)
        if predicted.shape != target.shape:
            raise ValueError(f"prediction and target differ in size: {predicted.numel()} vs {target.numel()} pixels")
        valid = target >= 0
        predicted, target = predicted[valid], target[valid]
        n = self.num_classes
        for name, values in (('target', target), ('prediction', predicted)):
            if values.numel() and (values.min() < 0 or values.max() >= n):
                raise ValueError(f"{name} has class indices outside [0, {n}): "
                                 f"min {int(values.min())}, max {int(values.max())}")
        counts = torch.bincount(target * n + predicted, minlength=n * n)
        self.matrix += counts.reshape(n, n).numpy()

    @property
    def total(self) -> int:
        return int(self.matrix.sum())

    def pixel_accuracy(self) -> float:
        """Correct pixels over labelled pixels (NaN before any labelled pixel)."""
        total = self.total
        return float(np.trace(self.matrix) / total) if total else float('nan')

    def iou_per_class(self) -> np.ndarray:
        """IoU of each class; NaN for a class absent from both the labels and the predictions."""
        true_positive = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - true_positive
        iou = np.full(self.num_classes, np.nan)
        present = union > 0
        iou[present] = true_positive[present] / union[present]
        return iou

    def mean_iou(self) -> float:
        """Mean IoU over the classes present in the labels or the predictions."""
        iou = self.iou_per_class()
        return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float('nan')
