"""Drawing a body pose as CoCosNet's 20-channel dense map, with OpenCV's own rasteriser.

The pixels must equal those of CoCosNet's DeepFashion loader (``get_label_tensor`` in its
``data/deepfashion_dataset.py``), which draws with OpenCV; an own rasteriser disagreed on the
rims of discs and limbs and so shifted every distance map. The rules, as CoCosNet applies them
on a black uint8 canvas of the photo's size that OpenCV treats as BGR:

- keypoints are truncated to whole pixels (``int``), not rounded;
- discs first: keypoint k as a filled ``cv2.circle`` of radius 4 in OpenPose's colour k;
- then the 17 limbs in OpenPose's order, each an ``cv2.ellipse2Poly`` polygon (centre: the
  truncated mean of its ends; half-axes ``int(length/2)`` and 4; angle: ``atan2(dy, dx)`` in
  degrees truncated; one vertex per degree) filled with ``cv2.fillConvexPoly`` (outline
  included) into a copy of the canvas, the copy then blended back with
  ``cv2.addWeighted(canvas, 0.4, copy, 0.6, 0)``: outside the limb nothing changes, inside it
  becomes 0.4 old + 0.6 colour, rounded; limb i uses colour i;
- the canvas is finally converted BGR -> RGB, so the colours appear channel-reversed;
- per limb: ``cv2.distanceTransform`` (``DIST_L1``: exact city-block distance) to the filled
  polygon, divided by 3, clipped to [0, 255] and truncated to uint8. A limb with a missing end
  has no pixel to measure from: OpenCV answers FLT_MAX, i.e. 255 everywhere, and the limb is
  not drawn (nor blended). A limb that lies wholly off the canvas gives the same.

Where we deliberately differ (in the dataset, not here): a random flip mirrors the keypoints
and swaps left and right before drawing (CoCosNet mirrors the finished picture); see
:mod:`data.deepfashion_dataset`.
"""
import math

import cv2
import numpy as np

from data.openpose import NUM_KEYPOINTS

# limbs as pairs of 1-based COCO-18 keypoints, in OpenPose's drawing order
LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13),
         (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18))
# OpenPose's colour list, handed to OpenCV as BGR triples; after the BGR -> RGB conversion a
# colour c is stored as c[::-1].
OPENPOSE_COLOURS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
                    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
                    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
DISC_RADIUS = 4
LIMB_HALF_WIDTH = 4
LIMB_OPACITY = 0.6
UNDER_LIMB = 0.4  # weight of what lies under a limb; written out, as OpenCV gets it (not 1 - 0.6)
DISTANCE_DIVISOR = 3
NUM_CHANNELS = 3 + len(LIMBS)


def render_pose(keypoints: np.ndarray, size: tuple) -> tuple:
    """Draw ``keypoints`` ((18,2) pixel positions, NaN = missing) on a ``size`` = (w, h) canvas.

    Returns ``(picture, distances)``: uint8 (H,W,3) RGB and uint8 (17,H,W), both 0..255 (kept
    8-bit because CoCosNet resizes them as 8-bit images)."""
    w, h = size
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    for k in range(NUM_KEYPOINTS):
        if not np.isnan(keypoints[k]).any():
            centre = (int(keypoints[k, 0]), int(keypoints[k, 1]))
            cv2.circle(canvas, centre, DISC_RADIUS, OPENPOSE_COLOURS[k], thickness=-1)
    distances = np.full((len(LIMBS), h, w), 255, dtype=np.uint8)
    for i, (a, b) in enumerate(LIMBS):
        ends = keypoints[[a - 1, b - 1]]
        if np.isnan(ends).any():
            continue
        polygon = limb_polygon(ends)
        with_limb = canvas.copy()
        cv2.fillConvexPoly(with_limb, polygon, OPENPOSE_COLOURS[i])
        canvas = cv2.addWeighted(canvas, UNDER_LIMB, with_limb, LIMB_OPACITY, 0)
        distances[i] = _distance_map(polygon, (h, w))
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB), distances


def limb_polygon(ends: np.ndarray) -> np.ndarray:
    """The (n,2) int32 outline OpenPose fills for the limb from ``ends[0]`` to ``ends[1]``."""
    (x0, y0), (x1, y1) = ends
    centre = (int((x0 + x1) / 2), int((y0 + y1) / 2))
    # the same float operations as CoCosNet (numpy scalars, ** 0.5), so that the truncations
    # below flip at exactly the same lengths
    length = ((y0 - y1) ** 2 + (x0 - x1) ** 2) ** 0.5
    angle = int(math.degrees(math.atan2(y0 - y1, x0 - x1)))
    return cv2.ellipse2Poly(centre, (int(length / 2), LIMB_HALF_WIDTH), angle, 0, 360, 1)


def _distance_map(polygon: np.ndarray, shape: tuple) -> np.ndarray:
    """uint8 map of floor(L1 distance to the filled polygon / 3), at most 255."""
    outside = np.full(shape, 255, dtype=np.uint8)
    cv2.fillConvexPoly(outside, polygon, 0)  # distanceTransform measures to the zero pixels
    distance = cv2.distanceTransform(outside, cv2.DIST_L1, 3)
    # clip before the cast: FLT_MAX (nothing drawn on the canvas) must become 255, not wrap
    return np.clip(distance / DISTANCE_DIVISOR, 0, 255).astype(np.uint8)
