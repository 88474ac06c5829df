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


#: rows blended at a time: the 16-bit temporaries of a band stay in the CPU's cache
BLEND_ROWS = 32


def blend(rgba: np.ndarray, back: np.ndarray) -> np.ndarray:
    """HWC uint8 RGBA (foreground + alpha) over HWC uint8 RGB; HWC uint8 RGB out:
    ``round((fg * a + back * (255 - a)) / 255)``, exact in 16-bit integers (the same
    as the float formula rounded to nearest), a band of rows at a time. About 7 ms
    for 1080x1920 on the CI machine, against 50 ms for the float32 version it replaced."""
    h, w = rgba.shape[:2]
    out = np.empty((h, w, 3), np.uint8)
    total = np.empty((BLEND_ROWS, w, 3), np.uint16)
    under = np.empty((BLEND_ROWS, w, 3), np.uint16)
    for y in range(0, h, BLEND_ROWS):
        band = rgba[y : y + BLEND_ROWS]
        n = band.shape[0]
        a3 = cv2.cvtColor(np.ascontiguousarray(band[..., 3]), cv2.COLOR_GRAY2RGB)
        t, u = total[:n], under[:n]
        np.multiply(cv2.cvtColor(band, cv2.COLOR_RGBA2RGB), a3, out=t, dtype=np.uint16)
        np.multiply(back[y : y + n], cv2.bitwise_not(a3), out=u, dtype=np.uint16)
        t += u  # at most 255 * 255: no overflow
        cv2.convertScaleAbs(t, dst=out[y : y + n], alpha=1 / 255.0)
    return out


def blend_deep(fg: np.ndarray, alpha: np.ndarray, back: np.ndarray) -> np.ndarray:
    """HWC uint16 foreground over HWC uint16 background with an HW uint8 alpha (HDR
    kept): ``round((fg * a + back * (255 - a)) / 255)``, exact in 32-bit integers, a
    band of rows at a time."""
    h, w = alpha.shape[:2]
    out = np.empty((h, w, 3), np.uint16)
    for y in range(0, h, BLEND_ROWS):
        a = alpha[y : y + BLEND_ROWS, :, None].astype(np.uint32)
        total = fg[y : y + BLEND_ROWS, :, :3] * a + back[y : y + BLEND_ROWS] * (255 - a) + 127
        out[y : y + BLEND_ROWS] = total // 255
    return out


def colour_fix(out: np.ndarray, source: np.ndarray, sigma: float) -> np.ndarray:
    """``out`` (the network's frame at the output size) with the source's own local
    colour put back: the difference between ``out`` brought down to the source's size
    (area average) and ``source``, low-passed (Gaussian, ``sigma`` source pixels) and
    brought up again (bilinear), is taken off ``out``. Flat colours come back as they
    went in (Real-ESRGAN moves them by up to 6/255, and whole frames by 5/255 on
    average on the LivePortrait clip); the detail the network made is above the cut-off
    and stays (docs/performance.md). HWC uint8 or uint16, same dtype out."""
    top = 65535.0 if out.dtype == np.uint16 else 255.0
    h, w = source.shape[:2]
    big = out.astype(np.float32)
    small = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    shift = cv2.GaussianBlur(small - source.astype(np.float32), (0, 0), sigma)
    big -= cv2.resize(shift, out.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    return np.clip(big + 0.5, 0, top).astype(out.dtype)
