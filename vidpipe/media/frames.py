"""Frame layout conversions, all in one place.

Layouts used in vidpipe:
- ``HWC uint8 RGB``: what readers yield and writers take (numpy, C-contiguous).
- ``CHW float32 0..1 RGB``: what super-resolution networks output (may over/undershoot).
"""

from __future__ import annotations

import cv2
import numpy as np


def chw_float_to_hwc_u8(chw: np.ndarray) -> np.ndarray:
    """CHW float32 (0..1, unclipped) -> HWC uint8 RGB, rounded and saturated."""
    hwc = cv2.merge([chw[0], chw[1], chw[2]])  # HWC float32, contiguous
    return cv2.convertScaleAbs(np.maximum(hwc, 0.0, out=hwc), alpha=255.0)


def rotate_upright(hwc: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, FFmpeg's display-matrix
    convention, as ``av.VideoFrame.rotation`` reports it) so the frame is upright."""
    k = (rotation // 90) % 4
    if k == 0:
        return hwc
    codes = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}
    return cv2.rotate(hwc, codes[k])


def resize(hwc: np.ndarray, width: int, height: int) -> np.ndarray:
    """High-quality resize of an HWC uint8 frame: area averaging when shrinking,
    Lanczos when enlarging."""
    h, w = hwc.shape[:2]
    if (w, h) == (width, height):
        return hwc
    shrinking = width * height < w * h
    return cv2.resize(hwc, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
