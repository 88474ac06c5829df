"""`vidpipe bench --quick` runs and reports the figures the performance issue asks for
(benchmarks are not timed tests: this only checks that it works)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # the benchmark itself


def test_bench_quick_writes_the_json_figures(tmp_path, weights):
    weights("realesr-animevideov3.pth")
    weights("rife_ifnet_v4.2x_flownet.pkl")
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(out.read_text())
    for step in ("upscale", "matte"):
        assert d["stages"][step]["efficiency"] > 0 and d["stages"][step]["fps"] > 0
    assert d["pipeline"]["fps"] > 0 and d["peak_rss_mb"] > 0
    assert d["pipeline"]["speedup_vs_seed1"] > 0 and d["pipeline"]["speedup_vs_seed2"] > 0
    assert "speedup_vs_seed1" in r.stdout and "efficiency" in r.stdout
    motion = d["motion"]["sizes"]["540x960"]  # RIFE alone and the interpolate step at the product's size
    assert motion["model_only_fps"] > 0 and motion["stage_fps"] > 0 and motion["made"] > 0
    assert "interpolate (rife-v4.2x" in r.stdout


def test_bench_gpu_refuses_in_one_line_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        return  # a GPU machine runs the real thing (make gpu-check)
    r = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--gpu", "--quick"], capture_output=True, text=True, cwd=tmp_path
    )
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "needs a CUDA GPU" in lines[0] and "Traceback" not in r.stderr


def test_bench_gpu_code_runs_on_the_cpu_on_tiny_frames(weights, monkeypatch):
    """The GPU benchmark's own code, on the CPU device with tiny frames (so a GPU
    machine's first run is not its first run)."""
    from app import bench_gpu

    weights("realesr-animevideov3.pth")
    weights("rvm_mobilenetv3_fp32.onnx")
    r = bench_gpu.run(device="cpu", source=(48, 80), frames=6, rounds=1)
    assert r["models"][0] == "realesr-animevideov3" and r["size"] == "48x80 -> 1080x1800"
    for phase in (
        "upscale_model:realesr-animevideov3",
        "upscale:realesr-animevideov3",
        "matte_model",
        "matte",
        "composite_in_join",
        "blend_device",
        "encode_libx264",
        "end_to_end",
    ):
        assert r["fps"][phase]["median"] > 0, phase
    assert r["end_to_end_vs_model"]["median"] > 0 and r["codec_auto"] == "libx264"
    assert "end to end" in bench_gpu.table(r)
    assert r["motion"]["sizes"]["540x960"]["model_only_fps"] > 0 and "interpolate" in bench_gpu.table(r)
