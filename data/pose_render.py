"""Drawing a body pose as CoCosNet's 20-channel dense map (without OpenCV).

Channels 0-2: OpenPose's picture of the skeleton - a disc (radius 4) per keypoint, then each
of 17 limbs as an ellipse (half-width 4) blended over it at 60%. Channels 3-19: per limb, the
L1 (city-block) distance of every pixel to that limb's ellipse, divided by 3, floored and
clipped to 255 (255 everywhere when the limb is missing). Values are 0..255 here; the dataset
scales them to [0,1].
"""
import math

import numpy as np
from scipy import ndimage

from data.openpose import NUM_KEYPOINTS

# limbs as pairs of 1-based COCO-18 keypoints, in OpenPose's drawing order
LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13),
         (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18))
# OpenPose's colour list. OpenPose draws it onto a BGR canvas and CoCosNet converts the canvas
# to RGB afterwards, so in RGB each colour appears reversed; we store the reversed triples.
OPENPOSE_COLOURS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
                    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
                    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
RGB_COLOURS = np.array([c[::-1] for c in OPENPOSE_COLOURS], dtype=np.float64)
DISC_RADIUS = 4
LIMB_HALF_WIDTH = 4
LIMB_OPACITY = 0.6
DISTANCE_DIVISOR = 3
NUM_CHANNELS = 3 + len(LIMBS)


def render_pose(keypoints: np.ndarray, size: tuple) -> tuple:
    """Draw ``keypoints`` ((18,2) pixel positions, NaN = missing) on a ``size`` = (w, h) canvas.

    Returns ``(picture, distances)``: uint8 (H,W,3) and float32 (17,H,W) in 0..255."""
    w, h = size
    canvas = np.zeros((h, w, 3), dtype=np.float64)
    for k in range(NUM_KEYPOINTS):
        if not np.isnan(keypoints[k]).any():
            x, y = int(keypoints[k, 0]), int(keypoints[k, 1])
            box, (cols, rows) = _window(x, y, DISC_RADIUS, DISC_RADIUS, w, h)
            canvas[box][(cols - x) ** 2 + (rows - y) ** 2 <= (DISC_RADIUS + 0.5) ** 2] = RGB_COLOURS[k]
    distances = np.full((len(LIMBS), h, w), 255.0, dtype=np.float32)
    for i, (a, b) in enumerate(LIMBS):
        ends = keypoints[[a - 1, b - 1]]
        if np.isnan(ends).any():
            continue
        inside = _limb_ellipse(ends, w, h)
        if not inside.any():
            continue
        # cv2.addWeighted(canvas, 0.4, canvas_with_limb, 0.6): only the limb's pixels change
        canvas[inside] = np.rint((1 - LIMB_OPACITY) * canvas[inside] + LIMB_OPACITY * RGB_COLOURS[i])
        distance = ndimage.distance_transform_cdt(~inside, metric='taxicab')
        np.minimum(np.floor(distance / DISTANCE_DIVISOR), 255, out=distances[i], casting='unsafe')
    return canvas.astype(np.uint8), distances


def _window(cx: int, cy: int, rx: int, ry: int, w: int, h: int) -> tuple:
    """The canvas slice around (cx, cy) reaching rx, ry pixels out, and its pixel coordinates."""
    x0, x1 = max(0, cx - rx), max(0, min(w, cx + rx + 1))
    y0, y1 = max(0, cy - ry), max(0, min(h, cy + ry + 1))
    return (slice(y0, y1), slice(x0, x1)), (np.arange(x0, x1)[None, :], np.arange(y0, y1)[:, None])


def _limb_ellipse(ends: np.ndarray, w: int, h: int) -> np.ndarray:
    """(h, w) mask of the ellipse OpenPose draws for a limb: centred between its ends
    (truncated to whole pixels), half-length |ends|/2 and half-width 4, at the limb's angle
    in whole degrees."""
    (x0, y0), (x1, y1) = ends
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    half_length = int(math.hypot(x0 - x1, y0 - y1) / 2)
    angle = math.radians(int(math.degrees(math.atan2(y0 - y1, x0 - x1))))
    reach = half_length + LIMB_HALF_WIDTH + 1
    box, (cols, rows) = _window(cx, cy, reach, reach, w, h)
    dx, dy = cols - cx, rows - cy
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = -dx * math.sin(angle) + dy * math.cos(angle)
    mask = np.zeros((h, w), dtype=bool)
    # +0.5: OpenCV fills the polygon's boundary pixels too
    mask[box] = (along / (half_length + 0.5)) ** 2 + (across / (LIMB_HALF_WIDTH + 0.5)) ** 2 <= 1.0
    return mask
