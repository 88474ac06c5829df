"""Run a network on tiles of a large frame and blend them without seams.

Each tile's core region is widened by ``pad`` pixels of context on every side
(clipped at the frame border). Neighbouring tiles overlap by ``2 * pad``; in the
overlap their outputs are cross-faded with linear weights, so no seam shows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _ramp(length: int, lead: int, tail: int) -> np.ndarray:
    """1 inside, rising linearly over ``lead`` samples and falling over ``tail``."""
    w = np.ones(length, np.float32)
    if lead:
        w[:lead] = (np.arange(lead, dtype=np.float32) + 0.5) / lead
    if tail:
        w[length - tail :] = ((np.arange(tail, dtype=np.float32) + 0.5) / tail)[::-1]
    return w


def tiled_forward(
    hwc: np.ndarray,
    forward: Callable[[np.ndarray], np.ndarray],
    scale: int,
    tile: int,
    pad: int = 16,
) -> np.ndarray:
    """``forward`` maps HWC uint8 (h, w) to CHW float32 (h*scale, w*scale). Returns
    the same as ``forward(hwc)`` would, computed tile by tile (CHW float32)."""
    h, w = hwc.shape[:2]
    if tile <= 0 or (h <= tile and w <= tile):
        return forward(hwc)
    out = np.zeros((3, h * scale, w * scale), np.float32)
    weight = np.zeros((h * scale, w * scale), np.float32)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y0 - pad), max(0, x0 - pad)
            yb, xb = min(h, y1 + pad), min(w, x1 + pad)
            res = forward(np.ascontiguousarray(hwc[ya:yb, xa:xb]))
            wy = _ramp((yb - ya) * scale, 2 * (y0 - ya) * scale, 2 * (yb - y1) * scale)
            wx = _ramp((xb - xa) * scale, 2 * (x0 - xa) * scale, 2 * (xb - x1) * scale)
            wt = wy[:, None] * wx[None, :]
            sy, sx = slice(ya * scale, yb * scale), slice(xa * scale, xb * scale)
            out[:, sy, sx] += res * wt
            weight[sy, sx] += wt
    out /= weight
    return out
