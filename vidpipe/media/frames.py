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


def cutout(rgba: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The HWC uint8 RGBA to blend: ``rgba`` as matted, or - when the matte was made at a
    lower resolution (matte before upscale, an input's own alpha) - the HWC uint8 RGB
    ``frame`` with the alpha scaled up to it (bilinear)."""
    h, w = frame.shape[:2]
    if rgba.shape[:2] == (h, w):
        return rgba
    alpha = cv2.resize(rgba[..., 3], (w, h), interpolation=cv2.INTER_LINEAR)
    return np.dstack([frame, alpha])


def blend(rgba: np.ndarray, back: np.ndarray) -> np.ndarray:
    """HWC uint8 RGBA (foreground + alpha) over HWC uint8 RGB, in float32; HWC uint8 RGB out."""
    a = rgba[..., 3:4].astype(np.float32) * (1 / 255.0)
    out = rgba[..., :3].astype(np.float32) * a + back.astype(np.float32) * (1 - a)
    return (out + 0.5).astype(np.uint8)
