"""probe: facts of real clips, and one clear ProbeError line for bad input."""

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from vidpipe.errors import ProbeError
from vidpipe.media.probe import probe
from vidpipe.media.synth import make_audio_only


def test_rotated_phone_clip_with_audio_first(media):
    info = probe(media("fate_iphone4_rotated_audiofirst.mov"))
    assert (info.width, info.height, info.rotation) == (480, 272, 270)
    assert info.display_size == (272, 480)
    assert info.video_index == 1 and info.audio[0].index == 0
    # the header says 106 frames; one trailing packet decodes to nothing
    assert (info.header_frame_count, info.frame_count) == (106, 105)


def test_audio_first_stream_order(media):
    info = probe(media("mdn_friday.mp4"))
    assert info.video_index == 1 and [a.codec for a in info.audio] == ["aac"]
    assert info.frame_count == 185 and info.fps == 30 and not info.vfr


def test_webm_without_header_frame_count_is_counted(media):
    info = probe(media("mdn_flower.webm"))
    assert info.header_frame_count == 0 and info.frame_count == 150
    assert info.codec == "vp8" and info.audio[0].codec == "vorbis"
    assert abs(info.fps - 30000 / 1001) < 1e-3 and not info.vfr


def test_alpha_is_detected(media):
    assert probe(media("fate_vp8_video_with_alpha.webm")).has_alpha


def test_variable_frame_rate_is_detected(clip):
    assert probe(clip(width=64, height=36, frames=12, vfr=True)).vfr
    assert not probe(clip(width=64, height=36, frames=12)).vfr


def test_anamorphic_pixels_give_the_size_a_player_shows(clip):
    from vidpipe.steps.upscale import UpscaleConfig, video_size

    wide = probe(clip(width=176, height=144, frames=2, audio=False, sar=Fraction(16, 11)))  # PAL 16:9
    tall = probe(clip(width=720, height=480, frames=2, audio=False, sar=Fraction(8, 9)))  # NTSC 4:3
    assert (wide.sar, wide.square_size, tall.sar, tall.square_size) == ("16:11", (256, 144), "8:9", (720, 540))
    assert video_size(wide, UpscaleConfig(target="720p")) == (1280, 720)  # widened, never narrowed
    assert probe(clip(width=64, height=36, frames=2, audio=False)).sar == "1:1"


def _bad_inputs(tmp_path, media):
    friday = media("mdn_friday.mp4").read_bytes()
    bg = media("paddleseg_humanseg_background.jpg").read_bytes()
    files = {
        "empty.mp4": b"",
        "truncated.mp4": friday[: len(friday) // 3],
        "random.mp4": np.random.default_rng(1).bytes(40000),
        "notes.mp4": b"this is a text file, not a video\n" * 20,
        "still.mp4": bg,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    make_audio_only(tmp_path / "audio_only.mp4")
    return tmp_path


@pytest.mark.parametrize(
    "name,cause",
    [
        ("empty.mp4", "empty file"),
        ("truncated.mp4", "truncated"),
        ("random.mp4", "not a video"),
        ("notes.mp4", "not a video"),
        ("still.mp4", "still image"),
        ("audio_only.mp4", "no video stream"),
        ("missing.mp4", "not found"),
    ],
)
def test_bad_input_is_one_clear_probe_error(tmp_path, media, name, cause):
    folder = _bad_inputs(tmp_path, media)
    with pytest.raises(ProbeError) as e:
        probe(folder / name)
    message = str(e.value)
    assert name in message and cause in message and "\n" not in message
    assert isinstance(e.value, ValueError)  # ProbeError is also a ValueError


def test_cli_probe_bad_file_prints_one_line_no_traceback(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    r = subprocess.run([sys.executable, "-m", "app", "probe", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "notes.mp4" in lines[0] and "Traceback" not in r.stderr


def test_cli_probe_json(media):
    import json

    r = subprocess.run(
        [sys.executable, "-m", "app", "probe", "--json", str(media("mdn_friday.mp4"))], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["frame_count"] == 185 and d["audio"][0]["codec"] == "aac"


def test_a_scan_is_kept_on_disk_by_content(clip, tmp_path, monkeypatch):
    """A new process (or a folder sweep) does not decode an unchanged file again; a file
    with other content is decoded."""
    import shutil

    from vidpipe.media import probe as media_probe

    src = tmp_path / "a.mp4"
    shutil.copy(clip(width=64, height=36, frames=12), src)
    first = probe(src)
    media_probe._SCANS.clear()  # as in a new process

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(media_probe, "_decode_all", no_decoding)
    assert probe(src) == first
    shutil.copy(clip(width=64, height=36, frames=10), src)  # other content, same path
    with pytest.raises(AssertionError, match="decoded again"):
        probe(src)
