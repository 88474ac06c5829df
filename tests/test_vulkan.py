"""ncnn on Vulkan without a GPU: Mesa's llvmpipe (a CPU-type Vulkan device, installed by `make test`) is never
chosen by auto (it is about 8x slower than ncnn on the CPU), doctor and the run log say what was skipped, and
ncnn's Vulkan path itself runs on it when asked for explicitly: the output within fp16 tolerance of the CPU
path, and the tile lowered on an out-of-memory. Each case runs in its own process (the device choice is made
once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IN_CI

VIDPIPE = str(Path(sys.executable).with_name("vidpipe"))
pytestmark = pytest.mark.slow  # ncnn on a software Vulkan device, a process per case


def _py(code: str, **env: str) -> dict:
    environ = {**os.environ, **env}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def software_device() -> int:
    devices = _py("import json; from vidpipe.models.ncnn_sr import vulkan_devices as d; print(json.dumps(d()))")
    cpu = [i for i, _name, kind in devices if kind == "cpu"]
    if not cpu:
        message = "no CPU-type Vulkan device (make test installs mesa-vulkan-drivers for llvmpipe)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return cpu[0]


def test_auto_never_runs_ncnn_on_a_software_vulkan_device_and_says_so(software_device):
    got = _py(
        "import json; from vidpipe.models import ncnn_sr; from vidpipe.steps.upscale import UpscaleConfig, "
        "describe; print(json.dumps([ncnn_sr.vulkan_device(), describe(UpscaleConfig(backend='ncnn')), "
        "ncnn_sr.skipped_devices()]))",
        VIDPIPE_NCNN_VULKAN="auto",
    )
    assert got[0] is None and "on ncnn/cpu" in got[1] and got[2] and "(cpu type)" in got[2][0]  # the run log names it
    doctor = subprocess.run([VIDPIPE, "doctor"], capture_output=True, text=True, timeout=300)
    line = next(line for line in doctor.stdout.splitlines() if line.startswith("Vulkan (ncnn)"))
    assert "no GPU: ncnn runs on the CPU" in line and "(cpu type)" in line and "device:N" in line


CHOSEN = """
import json, numpy as np
from vidpipe.errors import OutOfMemory
from vidpipe.models import ncnn_sr, registry
from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig
rng = np.random.default_rng(0)
frame = (rng.random((144, 192, 3)) * 255).astype(np.uint8)
up = FrameUpscaler(UpscaleConfig(backend="ncnn", target="none", scale=4), (192, 144), (768, 576))
vk = up(frame)
cpu = ncnn_sr.NcnnUpscaler(registry.upscale_model("realesr-animevideov3"), gpu=False)
ref = FrameUpscaler(UpscaleConfig(backend="ncnn", target="none", scale=4), (192, 144), (768, 576))
ref.net = cpu
base = ref(frame)
forward, sizes = up.net.forward, []
def small_only(hwc):  # a device that runs out of memory above 120 pixels a side
    sizes.append(hwc.shape[:2])
    if max(hwc.shape[:2]) > 120:
        raise OutOfMemory("simulated")
    return forward(hwc)
up.net.forward = small_only
tiled = up(frame)
diff = np.abs(vk.astype(int) - base)
print(json.dumps({"device": up.device, "mean": float(diff.mean()), "p999": float(np.percentile(diff, 99.9)),
                  "tile": up.tile, "largest": max(max(s) for s in sizes),
                  "tiled_mean": float(np.abs(tiled.astype(int) - vk).mean())}))
"""


def test_ncnn_vulkan_path_on_llvmpipe_when_chosen(software_device):
    got = _py(CHOSEN, VIDPIPE_NCNN_VULKAN=f"device:{software_device}")
    assert got["device"] == f"vulkan:{software_device}"
    assert got["mean"] < 1.0 and got["p999"] <= 6, got  # fp16 storage on Vulkan against fp32 on the CPU
    assert 0 < got["tile"] <= 96 and got["largest"] > 120, got  # out of memory lowered the tile; the frame was kept
    assert got["tiled_mean"] < 1.5, got  # tiles blended without seams: the same picture


def test_a_vulkan_device_that_is_not_there_is_one_line():
    r = subprocess.run(
        [VIDPIPE, "doctor"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "VIDPIPE_NCNN_VULKAN": "device:9"},
    )
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "VIDPIPE_NCNN_VULKAN=device:9: no such Vulkan device" in lines[0]
