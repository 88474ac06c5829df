"""GFPGAN face restoration through spandrel (GFPGANv1Clean architecture).

spandrel's descriptor feeds 0..1 images and draws fresh StyleGAN noise on every
call; GFPGAN was trained on -1..1 inputs, and fresh noise per frame flickers in
video. So the module is called directly: -1..1 in, fixed noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidpipe.errors import ModelNotAvailable
from vidpipe.hashing import file_identity
from vidpipe.models import cache


def load(path, device: str | None = None) -> "Gfpgan":
    """The loaded network (once per process; a file replaced in place is a new one)."""
    return cache.loaded("gfpgan", (file_identity(Path(path)), device), lambda: Gfpgan(path, device))


class Gfpgan:
    """``__call__``: aligned 512x512 HWC uint8 RGB face -> restored face, same layout."""

    def __init__(self, path, device: str | None = None):
        import torch

        from vidpipe.models.torch_sr import keep_malloc_arenas, load_descriptor

        keep_malloc_arenas()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        descriptor = load_descriptor(path, self.device)
        if descriptor.architecture.id != "GFPGAN":
            raise ModelNotAvailable(f"{path}: is a {descriptor.architecture.name} model, not GFPGAN")
        self.model = descriptor.model.eval()
        self._torch = torch

    def __call__(self, face: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(face)).to(self.device).permute(2, 0, 1)[None].float()
            x = x.div_(127.5).sub_(1.0)
            y = self.model(x, return_rgb=False, randomize_noise=False)[0]
            y = y.clamp_(-1, 1).add_(1.0).mul_(127.5).round_().byte()
            return y[0].permute(1, 2, 0).cpu().numpy()
