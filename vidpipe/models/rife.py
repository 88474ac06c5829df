"""RIFE frame interpolation: the IFNet of Practical-RIFE's 4.2x generation (the 4.25/4.26
layout: a 4-channel feature head, five flow blocks of widths 192/128/96/64/32, coarse to
fine, an arbitrary timestep), written here from its published design; it loads that
generation's ``flownet.pkl`` state dict as it is.

:class:`Interpolator` is the frame path: two HWC frames in (uint8 RGB, or uint16 RGB with
HDR kept), the frame at time ``t`` between them out, in the same layout. The same code
runs on the CPU (tested there) and on CUDA (fp16 there, frames uploaded once per pair).
"""

from __future__ import annotations

import os

import numpy as np

from vidpipe.errors import ModelNotAvailable
from vidpipe.hashing import file_identity
from vidpipe.models import cache
from vidpipe.models.registry import ModelSpec
from vidpipe.models.store import locate

#: flow scales of the five blocks (coarse to fine), divided by the run's ``scale``
SCALES = (16, 8, 4, 2, 1)
#: the long side above which flow is estimated at half resolution (Practical-RIFE's advice for 4K)
HALF_FLOW_SIDE = 2048


def _modules():
    """The network's modules (torch imported only when a model is built)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def act() -> nn.Module:
        return nn.LeakyReLU(0.2, inplace=True)

    def resample(x, factor: float):
        return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    class Residual(nn.Module):
        """conv(x) * beta + x, then the activation."""

        def __init__(self, c: int):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, 1, 1)
            self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
            self.relu = act()

        def forward(self, x):
            return self.relu(self.conv(x) * self.beta + x)

    class FlowBlock(nn.Module):
        """At 1/``scale`` of the frame: two stride-2 convs, eight residual convs, a
        transposed conv and pixel shuffle; out: a flow update (4: to each frame), the
        blend mask's logit (1) and 8 feature channels handed to the next block."""

        def __init__(self, cin: int, c: int):
            super().__init__()
            self.conv0 = nn.Sequential(
                nn.Sequential(nn.Conv2d(cin, c // 2, 3, 2, 1), act()),
                nn.Sequential(nn.Conv2d(c // 2, c, 3, 2, 1), act()),
            )
            self.convblock = nn.Sequential(*(Residual(c) for _ in range(8)))
            self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

        def forward(self, x, flow, scale: float):
            x = resample(x, 1.0 / scale)
            if flow is not None:
                x = torch.cat((x, resample(flow, 1.0 / scale) / scale), 1)
            out = resample(self.lastconv(self.convblock(self.conv0(x))), scale)
            return out[:, :4] * scale, out[:, 4:5], out[:, 5:]

    class Features(nn.Module):
        """4 feature channels per pixel of a frame, warped along with it."""

        def __init__(self):
            super().__init__()
            self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
            self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
            self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
            self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)
            self.relu = act()

        def forward(self, x):
            x = self.relu(self.cnn0(x))
            x = self.relu(self.cnn1(x))
            return self.cnn3(self.relu(self.cnn2(x)))

    def warp(x, flow, grid):
        """Backward warp of ``x`` (NCHW) by ``flow`` in pixels (N2HW), border-clamped. Sampled in float32
        (the grid in fp16 would be off by up to a pixel at 4K)."""
        h, w = x.shape[2:]
        flow = flow.float()
        norm = torch.cat((flow[:, :1] * (2.0 / (w - 1)), flow[:, 1:2] * (2.0 / (h - 1))), 1)
        out = F.grid_sample(
            x.float(), (grid + norm).permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=True
        )
        return out.to(x.dtype)

    class IFNet(nn.Module):
        """Two frames (NCHW float 0..1, BGR as RIFE was trained) and a timestep in, the
        frame at that time out: each block refines the flows to both frames and the blend
        mask at a finer scale; the result blends both frames warped by the final flows."""

        def __init__(self):
            super().__init__()
            self.encode = Features()
            self.block0 = FlowBlock(3 + 3 + 4 + 4 + 1, 192)
            for i, c in enumerate((128, 96, 64, 32), start=1):
                setattr(self, f"block{i}", FlowBlock(3 + 3 + 4 + 4 + 1 + 1 + 8 + 4, c))

        def forward(self, img0, img1, timestep: float, scales=SCALES):
            n, _, h, w = img0.shape
            ys = torch.linspace(-1.0, 1.0, h, device=img0.device, dtype=torch.float32)
            xs = torch.linspace(-1.0, 1.0, w, device=img0.device, dtype=torch.float32)
            grid = torch.stack((xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w))).unsqueeze(0)
            f0, f1 = self.encode(img0), self.encode(img1)
            t = img0.new_full((n, 1, h, w), float(timestep))
            flow = mask = feat = None
            warped0, warped1 = img0, img1
            for i, scale in enumerate(scales):
                block = getattr(self, f"block{i}")
                if flow is None:
                    flow, mask, feat = block(torch.cat((img0, img1, f0, f1, t), 1), None, scale)
                else:
                    wf0, wf1 = warp(f0, flow[:, :2], grid), warp(f1, flow[:, 2:4], grid)
                    update, mask, feat = block(torch.cat((warped0, warped1, wf0, wf1, t, mask, feat), 1), flow, scale)
                    flow = flow + update
                warped0, warped1 = warp(img0, flow[:, :2], grid), warp(img1, flow[:, 2:4], grid)
            m = torch.sigmoid(mask)
            return warped0 * m + warped1 * (1 - m)

    return IFNet


def build(state: dict):
    """The IFNet with ``state`` loaded (the training-only entries dropped)."""
    net = _modules()()
    wanted = {k: v for k, v in state.items() if k.startswith(("encode.", "block"))}
    try:
        net.load_state_dict(wanted, strict=True)
    except RuntimeError as e:
        raise ModelNotAvailable(f"not a RIFE 4.2x IFNet state dict ({str(e).splitlines()[0]})") from None
    return net.eval()


def flow_scale(width: int, height: int) -> float:
    """1.0, or 0.5 above 2K: the flow is estimated at half resolution (large motions in pixels)."""
    return 0.5 if max(width, height) > HALF_FLOW_SIDE else 1.0


class Interpolator:
    """One loaded IFNet on one device. ``__call__(a, b, t)``: HWC frames (uint8 RGB, or
    uint16 RGB) in, the frame at ``t`` (0 < t < 1) between them out, same layout and
    dtype. The pair's tensors are kept on the device for every ``t`` asked between them
    (x3 and more) and the later frame for the next pair."""

    def __init__(self, spec: ModelSpec, device: str | None = None, half: bool | None = None):
        import torch

        from vidpipe.models.torch_sr import keep_malloc_arenas

        keep_malloc_arenas()
        self.path = locate(spec)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        self.half = self.device.type == "cuda" if half is None else half
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch.load raises many types for a corrupt file
            raise ModelNotAvailable(f"{self.path}: cannot load ({type(e).__name__}: {e})".split("\n")[0]) from None
        self.net = build(state).to(self.device)
        if self.half:
            self.net = self.net.half()
        self._held: list[tuple[np.ndarray, object]] = []  # (frame, its tensor): the last two

    @property
    def dtype(self):
        import torch

        return torch.float16 if self.half else torch.float32

    def _tensor(self, hwc: np.ndarray):
        """HWC uint8/uint16 RGB -> 1x3xHxW float 0..1 BGR on the device, padded to the flow scales."""
        import torch
        from torch.nn import functional as F

        for held, t in self._held:
            if held is hwc:
                return t
        peak = 65535.0 if hwc.dtype == np.uint16 else 255.0
        host = np.ascontiguousarray(hwc[..., ::-1], dtype=np.int32 if hwc.dtype == np.uint16 else np.uint8)
        x = torch.from_numpy(host).to(self.device, non_blocking=True)
        x = (x.permute(2, 0, 1).unsqueeze(0).float() / peak).to(self.dtype)  # fp16 ends at 65504: divide first
        h, w = hwc.shape[:2]
        m = int(64 / flow_scale(w, h))
        pad = ((-w) % m, (-h) % m)
        if any(pad):
            x = F.pad(x, (0, pad[0], 0, pad[1]), mode="replicate")
        self._held = [*self._held[-1:], (hwc, x)]  # the array itself: its id is never reused meanwhile
        return x

    def __call__(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        import torch

        h, w = a.shape[:2]
        scale = flow_scale(w, h)
        with torch.inference_mode():
            out = self.net(self._tensor(a), self._tensor(b), t, tuple(s / scale for s in SCALES))
            peak = 65535.0 if a.dtype == np.uint16 else 255.0
            out = (out[0, :, :h, :w].float().clamp_(0, 1) * peak).round_().flip(0).permute(1, 2, 0)
            if a.dtype == np.uint16:  # torch's uint16 is a storage type: convert through int32
                return out.to(torch.int32).cpu().numpy().astype(np.uint16)
            return out.to(torch.uint8).cpu().numpy()

    def forget(self) -> None:
        """Drop the frames kept on the device (a new stretch of frames starts)."""
        self._held = []


def device_label(device: str | None = None) -> str:
    """Where and how :func:`load` runs the network (part of the step's key: fp16 frames differ from fp32 ones)."""
    from vidpipe import gpu

    cuda = device == "cuda" or (device is None and gpu.has_cuda())
    return "torch/cuda fp16" if cuda else "torch/cpu"


def load(spec: ModelSpec, device: str | None = None) -> Interpolator:
    """The process's one Interpolator for ``spec`` on ``device`` (loaded once; a file
    replaced in place is loaded anew)."""
    path = locate(spec)
    return cache.loaded("rife", (spec.name, str(device), file_identity(path)), lambda: Interpolator(spec, device))
