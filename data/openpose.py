"""Body keypoints from OpenPose's output as CoCosNet stores it for DeepFashion.

``<name>_candidate.txt``: one row per detected keypoint, ``x y score id``.
``<name>_subset.txt``: one row per person (a single row for DeepFashion), whose first 18
numbers index into the candidates for the 18 COCO keypoints (-1 = not found), followed by the
person's total score and keypoint count.
"""
import warnings

import numpy as np

from util.errors import DatasetError

NUM_KEYPOINTS = 18
# COCO-18 order: nose, neck, r/l shoulder, elbow, wrist, r/l hip, knee, ankle, r/l eye, ear.
# MIRRORED[k] is the keypoint that becomes k when the picture is mirrored (right <-> left).
MIRRORED = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)


def read_keypoints(candidate_path: str, subset_path: str) -> np.ndarray:
    """(18, 2) float array of (x, y) pixel positions, NaN where a keypoint was not found."""
    candidates = _read_table(candidate_path, min_columns=2)
    subset = _read_table(subset_path, min_columns=NUM_KEYPOINTS)
    keypoints = np.full((NUM_KEYPOINTS, 2), np.nan)
    if subset.shape[0] == 0:
        return keypoints  # nobody detected
    # several people: keep the best-scoring one (column 18 is the person's score)
    person = subset[int(np.argmax(subset[:, 18]))] if subset.shape[1] > 18 else subset[0]
    for k in range(NUM_KEYPOINTS):
        index = int(person[k])
        if index < 0:
            continue
        if index >= candidates.shape[0]:
            raise DatasetError(f"{subset_path}: keypoint {k} refers to candidate {index} but "
                               f"{candidate_path} has {candidates.shape[0]} rows")
        keypoints[k] = candidates[index, :2]
    return keypoints


def mirror_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """The pose of the left-right mirrored picture: x -> width-1-x, and left and right swapped."""
    mirrored = keypoints[list(MIRRORED)].copy()
    mirrored[:, 0] = (width - 1) - mirrored[:, 0]
    return mirrored


def _read_table(path: str, min_columns: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # numpy warns about empty files, which mean 'no detection'
            table = np.loadtxt(path, ndmin=2)
    except FileNotFoundError:
        raise DatasetError(f"{path}: OpenPose file not found")
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path}: not an OpenPose table of numbers ({' '.join(str(exc).split())})")
    if table.size and table.shape[1] < min_columns:
        raise DatasetError(f"{path}: rows have {table.shape[1]} numbers, expected at least {min_columns}")
    return table if table.size else np.zeros((0, min_columns))
