"""The engine never imports Prefect; the sample clip `make run` writes is usable."""

import subprocess
import sys

from vidpipe.media.probe import probe


def test_engine_does_not_import_prefect():
    code = (
        "import sys, vidpipe.cli, vidpipe.config, vidpipe.jobs, vidpipe.stages.upscale, vidpipe.media.join, "
        "vidpipe.media.synth, vidpipe.logs, vidpipe.storage, vidpipe.telemetry, vidpipe.report, vidpipe.watch, "
        "vidpipe.media.still, vidpipe.cli_ops; assert 'prefect' not in sys.modules, 'engine imported prefect'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_sample_clip_has_video_and_audio(tmp_path, monkeypatch):
    from vidpipe.cli import _ensure_sample

    _ensure_sample(tmp_path / "downloads")
    info = probe(tmp_path / "downloads" / "sample.mp4")
    assert (info.width, info.height) == (270, 480) and info.frame_count == 36
    assert len(info.audio) == 1 and abs(info.audio[0].duration - info.duration) < 0.05
    _ensure_sample(tmp_path / "downloads")  # a folder with a video is left alone
    assert len(list((tmp_path / "downloads").iterdir())) == 1
