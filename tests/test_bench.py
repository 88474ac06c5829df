"""`vidpipe bench --quick` runs and reports the figures the performance issue asks for
(benchmarks are not timed tests: this only checks that it works)."""

import json
import subprocess
import sys


def test_bench_quick_writes_the_json_figures(tmp_path, weights):
    weights("realesr-animevideov3.pth")
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--quick", "--json", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(out.read_text())
    for step in ("upscale", "matte"):
        assert d["stages"][step]["efficiency"] > 0 and d["stages"][step]["fps"] > 0
    assert d["pipeline"]["fps"] > 0 and d["peak_rss_mb"] > 0
    assert d["pipeline"]["speedup_vs_seed1"] > 0 and d["pipeline"]["speedup_vs_seed2"] > 0
    assert "speedup_vs_seed1" in r.stdout and "efficiency" in r.stdout
