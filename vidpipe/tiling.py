"""Run a network on tiles of a large frame and blend them without seams.

Each tile's core region is widened by ``pad`` pixels of context on every side
(clipped at the frame border). The outer half of that context is discarded (the
network sees an artificial border there); across the inner half and the first
``pad / 2`` pixels of the core, neighbouring tiles are cross-faded with linear
weights that sum to one. A network whose reach is under ``pad / 2`` input pixels
gives exactly the untiled result; Real-ESRGAN's far reach fades out well before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


def _ramp(length: int, lead: int, tail: int) -> np.ndarray:
    """Weights along one axis of a tile output with ``lead``/``tail`` context pixels:
    0 over the outer half of the context, then a linear ramp as long as the context."""
    w = np.ones(length, np.float32)
    for context, side in ((lead, 1), (tail, -1)):
        if not context:
            continue
        guard = context // 2
        ramp = (np.arange(context, dtype=np.float32) + 0.5) / context
        band = np.concatenate([np.zeros(guard, np.float32), ramp])[:length]
        if side == 1:
            w[: len(band)] = np.minimum(w[: len(band)], band)
        else:
            w[length - len(band) :] = np.minimum(w[length - len(band) :], band[::-1])
    return w


@dataclass(frozen=True)
class Tile:
    """One tile: its core (``y0:y1, x0:x1``) and the context around it that the network
    sees (``context`` = ya, yb, xa, xb), in input pixels."""

    y0: int
    y1: int
    x0: int
    x1: int
    context: tuple[int, int, int, int]

    def weights(self, scale: int) -> np.ndarray:
        """The cross-fade weights of this tile's output (``scale`` x its context)."""
        ya, yb, xa, xb = self.context
        wy = _ramp((yb - ya) * scale, (self.y0 - ya) * scale, (yb - self.y1) * scale)
        wx = _ramp((xb - xa) * scale, (self.x0 - xa) * scale, (xb - self.x1) * scale)
        return wy[:, None] * wx[None, :]


def tiles(h: int, w: int, tile: int, pad: int = 16) -> Iterator[Tile]:
    """The tiles of an ``h x w`` frame, row by row (any array library can run them)."""
    pad = min(pad, tile)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            context = (max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad))
            yield Tile(y0, y1, x0, x1, context)


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
    for t in tiles(h, w, tile, pad):
        ya, yb, xa, xb = t.context
        res = forward(np.ascontiguousarray(hwc[ya:yb, xa:xb]))
        wt = t.weights(scale)
        sy, sx = slice(ya * scale, yb * scale), slice(xa * scale, xb * scale)
        out[:, sy, sx] += res * wt
        weight[sy, sx] += wt
    out /= weight
    return out
