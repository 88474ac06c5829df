"""Frame operations on torch tensors, on whatever device the tensors live (CUDA, or the
CPU in tests): the GPU path finishes frames where the model made them, so only uint8
frames of the output size cross to the host. Each one matches its numpy/OpenCV twin
in :mod:`vidpipe.media.frames` (tested within 1/255, or 50 dB for resizing).

Layouts: ``NCHW float`` 0..1 as networks take and give; ``NHWC uint8`` as frames are
read and written."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F


def to_network(frames: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """NHWC uint8 (or uint16: HDR kept) -> NCHW ``dtype`` 0..1, channels_last (a view, then one pass)."""
    top = 65535.0 if frames.dtype == torch.uint16 else 255.0
    x = frames.permute(0, 3, 1, 2).to(torch.float32 if top > 255 else dtype).div_(top).to(dtype)
    return x.contiguous(memory_format=torch.channels_last)


def resize(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """NCHW float to ``width x height``, the filters of :func:`vidpipe.media.frames.resize`
    along each axis: exact area averaging where the axis shrinks (OpenCV's INTER_AREA,
    fractional ratios included: each output pixel is the mean of the input span it
    covers), Lanczos-4 where it grows (values may overshoot: clamp after). Separable:
    a few gathers of whole rows/columns per axis, no per-pixel Python."""
    h, w = x.shape[-2:]
    if (w, h) == (width, height):
        return x
    if w % width == 0 and h % height == 0:  # an integer shrink: the same weights, one pooling pass
        return F.avg_pool2d(x, (h // height, w // width))
    if height != h:
        x = _along(x, -2, *_weights(h, height, str(x.device)))
    if width != w:
        x = _along(x, -1, *_weights(w, width, str(x.device)))
    return x


def _along(x: torch.Tensor, axis: int, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``out[o] = sum_k weight[o, k] * x[index[o, k]]`` along ``axis`` (-2 rows, -1 columns)."""
    shape = (-1, 1) if axis == -2 else (-1,)
    out = None
    for k in range(index.shape[1]):
        part = x.index_select(axis, index[:, k]).mul_(weight[:, k].reshape(shape).to(x.dtype))
        out = part if out is None else out.add_(part)
    return out


@functools.lru_cache(maxsize=32)
def _weights(n_in: int, n_out: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices and weights (``n_out x taps``) resampling one axis."""
    index, weight = _area(n_in, n_out) if n_out < n_in else _lanczos4(n_in, n_out)
    return torch.from_numpy(index).to(device), torch.from_numpy(weight).to(device)


def _area(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Output pixel ``o`` covers ``[o s, (o + 1) s)`` of the input (``s = n_in / n_out``);
    each input pixel weighs its overlap with that span over ``s``."""
    s = n_in / n_out
    taps = math.ceil(s) + 1
    start = np.arange(n_out) * s
    first = np.floor(start).astype(np.int64)
    index = first[:, None] + np.arange(taps)[None]
    lo = np.maximum(index, start[:, None])
    hi = np.minimum(index + 1, start[:, None] + s)
    weight = np.clip(hi - lo, 0, None) / s
    return np.clip(index, 0, n_in - 1), weight.astype(np.float32)


def _lanczos4(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """8 taps of ``sinc(d) sinc(d / 4)`` around the pixel-centre-aligned source position,
    normalised to sum 1, edges replicated (as OpenCV's INTER_LANCZOS4)."""
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(pos).astype(np.int64)
    index = base[:, None] + np.arange(-3, 5)[None]
    d = pos[:, None] - index
    weight = np.sinc(d) * np.sinc(d / 4)
    weight /= weight.sum(axis=1, keepdims=True)
    return np.clip(index, 0, n_in - 1), weight.astype(np.float32)


def to_frames(x: torch.Tensor, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """NCHW float 0..1 (unclipped) -> NHWC uint8 (or ``torch.uint16``), rounded to nearest and saturated."""
    top = 65535.0 if dtype == torch.uint16 else 255.0
    y = x.float().mul(top).round_().clamp_(0, top).to(dtype)
    return y.permute(0, 2, 3, 1).contiguous()


def blend(rgba: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
    """(N)HWC uint8 RGBA over (N)HWC uint8 RGB -> uint8 RGB:
    ``round((fg * a + back * (255 - a)) / 255)``, as :func:`vidpipe.media.frames.blend`."""
    a = rgba[..., 3:4].to(torch.int32)
    total = rgba[..., :3].to(torch.int32) * a + back.to(torch.int32) * (255 - a)
    return total.to(torch.float32).div_(255.0).round_().to(torch.uint8)


def colour_fix(out: torch.Tensor, source: torch.Tensor, sigma: float) -> torch.Tensor:
    """NCHW float ``out`` (output size) with ``source``'s (NCHW float 0..1, input size) local
    colour put back, as :func:`vidpipe.media.frames.colour_fix` (area down, Gaussian of the
    difference, bilinear up, subtracted); float32 throughout."""
    out = out.float()
    h, w = source.shape[-2:]
    shift = _gaussian(resize(out, w, h) - source.float(), sigma)
    return out - F.interpolate(shift, size=tuple(out.shape[-2:]), mode="bilinear", align_corners=False)


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of NCHW float32, OpenCV's kernel size for float images
    (``round(8 sigma + 1) | 1``) and its default border (reflect, the edge pixel once)."""
    size = int(round(sigma * 8 + 1)) | 1
    r = size // 2
    t = torch.arange(size, dtype=torch.float64) - r
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = (g / g.sum()).to(torch.float32).to(x.device)
    c = x.shape[1]
    for axis in (-1, -2):
        pads = (r, r, 0, 0) if axis == -1 else (0, 0, r, r)
        # OpenCV's default border; a side no longer than the radius (under 8 sigma: tiny frames) replicates
        x = F.pad(x, pads, mode="reflect" if x.shape[axis] > r else "replicate")
        weight = g.reshape(1, 1, 1, size) if axis == -1 else g.reshape(1, 1, size, 1)
        x = F.conv2d(x, weight.expand(c, 1, *weight.shape[2:]).contiguous(), groups=c)
    return x
