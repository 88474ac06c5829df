"""What a user gets wrong, through the real CLI in a subprocess: output names that
would collide, command-line mistakes, a library error inside a step, odd entries in a
scanned folder, a stream-copy-trimmed MP4, and a no-op rerun that answers at once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from helpers import ARGS, free_port, no_traceback, remux, run

from vidpipe.media.probe import probe
from vidpipe.media.still import made_by_vidpipe as still_made_by_vidpipe
from vidpipe.media.synth import make_clip

pytestmark = pytest.mark.slow  # vidpipe run in processes of its own


#: a one-frame, one-pixel GIF89a
ONE_PIXEL_GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


def test_same_name_inputs_get_their_own_outputs_and_a_rerun_is_instant(tmp_path, home):
    a, b = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    make_clip(a, 64, 48, frames=24, fps=24)
    make_clip(b, 64, 48, frames=36, fps=24)
    out = tmp_path / "out"
    first = run(home, "run", str(a), str(b), "--out", str(out), *ARGS)
    assert first.returncode == 0, first.stderr[-3000:]
    made = {p.name: probe(p).frame_count for p in out.glob("*_final.mp4")}
    assert len(made) == 2 and sorted(made.values()) == [24, 36], made  # nothing overwritten
    assert "clip_final.mp4" not in made and all(n.startswith("clip-") for n in made)
    assert first.stderr.count("another input also makes clip_final.mp4") == 2
    started = time.monotonic()
    again = run(home, "run", str(a), str(b), "--out", str(out), *ARGS)
    took = time.monotonic() - started
    assert again.returncode == 0 and again.stderr.count("skipped") == 2, again.stderr
    assert took < 3, f"an up-to-date rerun took {took:.1f} s"  # no Prefect start-up
    assert {p.name: probe(p).frame_count for p in out.glob("*_final.mp4")} == made
    # alone, each keeps its name (a rerun never renames); a new same-name input takes the free
    # default name, and the next one never overwrites it
    alone = run(home, "run", str(b), "--out", str(out), *ARGS)
    assert alone.returncode == 0 and "skipped" in alone.stderr, alone.stderr[-2000:]
    c, d = tmp_path / "c" / "clip.mp4", tmp_path / "d" / "clip.mp4"
    make_clip(c, 64, 48, frames=12, fps=24)
    make_clip(d, 64, 48, frames=6, fps=24)
    assert run(home, "run", str(c), "--out", str(out), *ARGS).returncode == 0
    assert probe(out / "clip_final.mp4").frame_count == 12
    later = run(home, "run", str(d), "--out", str(out), *ARGS)
    assert later.returncode == 0, later.stderr[-2000:]
    counts = sorted(probe(p).frame_count for p in out.glob("*_final.mp4"))
    assert counts == [6, 12, 24, 36] and probe(out / "clip_final.mp4").frame_count == 12


def test_same_stem_other_extension_in_one_folder(tmp_path, home):
    folder = tmp_path / "downloads"
    make_clip(folder / "clip.mp4", 64, 48, frames=12, fps=24)
    remux(make_clip(tmp_path / "x.mp4", 64, 48, frames=18, fps=24), folder / "clip.mkv")  # the same, in Matroska
    out = tmp_path / "out"
    result = run(home, "run", str(folder), "--out", str(out), *ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert probe(out / "clip-mp4_final.mp4").frame_count == 12
    assert probe(out / "clip-mkv_final.mp4").frame_count == 18


@pytest.mark.parametrize(
    "args, says",
    [
        (["run", "--bogus"], "No such option: --bogus"),
        (["run", "--scale", "abc"], "--scale"),
        (["run", "--out"], "requires an argument"),
        (["run", "-dash.mp4"], "'-dash.mp4' is a file: write ./-dash.mp4"),
        (["run", "--target", "1080p", "--scale", "2"], "not both"),
        (["run", "--background", "#GGGGGG"], "not a colour"),
        (["run", "--background", "one.gif"], "one.gif: GIF images are not read as a background: use a PNG, JPEG"),
        (["run", "--background", "logo.svg"], "logo.svg: SVG images are not read as a background"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_command_line_mistakes_are_one_line(home, args, says):
    (home / "-dash.mp4").write_bytes(b"")
    (home / "one.gif").write_bytes(ONE_PIXEL_GIF)
    (home / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    result = run(home, *args, timeout=120)
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and says in lines[0], result.stderr


def test_a_library_error_inside_a_step_is_one_line_naming_the_step(tmp_path, home):
    """ncnn raising its own RuntimeError mid-segment (injected at start-up through
    sitecustomize, so the product has no test hook)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "from vidpipe.models import ncnn_sr\n"
        "def broken(self, *a, **k):\n"
        "    raise RuntimeError('vkQueueSubmit failed -4\\n(device lost)')\n"
        "ncnn_sr.NcnnUpscaler.forward = broken\n"
    )
    src = make_clip(tmp_path / "in" / "dance.mp4", 64, 48, frames=6, fps=24)
    result = run(
        home,
        "run",
        str(src),
        "--out",
        str(tmp_path / "out"),
        *ARGS,
        "--upscale-backend",
        "ncnn",
        env={"PYTHONPATH": str(hook)},
    )
    no_traceback(result)
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed")]
    assert result.returncode == 1 and len(failed) == 1, result.stderr[-3000:]
    assert (
        "dance.mp4" in failed[0] and "upscale failed: RuntimeError: vkQueueSubmit failed -4 (device lost)" in failed[0]
    )
    assert not list((tmp_path / "out").glob("*.mp4"))


def test_odd_entries_in_a_folder_are_named_and_counted(tmp_path, home):
    folder = tmp_path / "downloads"
    make_clip(folder / "good\nname.mp4", 64, 48, frames=6, fps=24)
    (folder / "folder.mp4").mkdir()
    (folder / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    result = run(home, "run", str(folder), "--out", str(tmp_path / "out"), *ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert any(line.startswith("done") and "good\\nname.mp4" in line for line in lines), lines  # one line
    assert any(line.startswith("skipped") and "folder.mp4: is a folder" in line for line in lines), lines
    assert any(line.startswith("skipped") and "gone.mp4: broken link" in line for line in lines), lines


def _trimmed(src: Path, dst: Path, drop_seconds: float) -> Path:
    """A stream copy that starts ``drop_seconds`` in, as editors write it: packets from
    the keyframe before, the first ones with negative times, hidden by an edit list."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        s = i.streams.video[0]
        t = o.add_stream_from_template(s)
        shift = int(drop_seconds / s.time_base)
        for packet in i.demux(s):
            if packet.dts is None:
                continue
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = t
            o.mux(packet)
    return dst


def test_an_edit_list_trim_is_processed_with_the_frames_players_show(tmp_path, home):
    src = make_clip(tmp_path / "full.mp4", 64, 48, frames=48, fps=24, audio=False)
    (tmp_path / "in").mkdir()
    cut = _trimmed(src, tmp_path / "in" / "trimmed.mp4", 0.5)
    info = probe(cut)
    assert info.header_frame_count == 48 and info.frame_count == 36  # what players show
    result = run(home, "run", str(cut), "--out", str(tmp_path / "out"), *ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert probe(tmp_path / "out" / "trimmed_final.mp4").frame_count == 36


def test_an_input_or_a_file_vidpipe_did_not_make_is_never_overwritten(tmp_path, home):
    """--out is the input folder, which holds clip.mp4 and clip_final.mp4 (both inputs) and the user's own
    dance_compare.jpg: every input is processed once, nothing there is written over (dance's output takes another
    name, its still with it), and vidpipe's own outputs are never taken as inputs on the next run."""
    folder = tmp_path / "videos"
    make_clip(folder / "clip.mp4", 64, 48, frames=24, fps=24)
    make_clip(folder / "clip_final.mp4", 64, 48, frames=12, fps=24)
    make_clip(folder / "dance.mp4", 64, 48, frames=6, fps=24)
    cv2.imwrite(str(folder / "dance_compare.jpg"), np.full((8, 8, 3), 90, np.uint8))  # a JPEG of the user's
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    first = run(home, "run", str(folder), "--out", str(folder), *ARGS)
    assert first.returncode == 0, first.stderr[-3000:]
    no_traceback(first)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before} == before  # untouched
    made = {p.name: probe(p).frame_count for p in folder.glob("*_final*.mp4") if p.name not in before}
    assert sorted(made.values()) == [6, 12, 24], made  # each input once
    assert first.stderr.count("and vidpipe did not make it") == 2, first.stderr  # clip_final.mp4, dance_compare.jpg
    stills = [folder / (n.removesuffix("_final.mp4") + "_compare.jpg") for n in made]
    assert all(still_made_by_vidpipe(s) for s in stills) and not still_made_by_vidpipe(folder / "dance_compare.jpg")
    again = run(home, "run", str(folder), "--out", str(folder), *ARGS)
    assert again.returncode == 0 and again.stderr.count("skipped") == 3, again.stderr[-3000:]
    assert {p.name for p in folder.iterdir()} == set(before) | set(made) | {
        n.removesuffix("_final.mp4") + "_compare.jpg" for n in made
    }


def test_an_input_given_twice_is_made_once_under_its_own_name(tmp_path, home):
    folder = tmp_path / "in"
    make_clip(folder / "clip.mp4", 64, 48, frames=12, fps=24)
    out = tmp_path / "out"
    given = [str(folder / "clip.mp4"), str(folder / "clip.mp4"), str(folder)]  # named twice, and in its folder
    result = run(home, "run", *given, "--out", str(out), *ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("done") == 1 and "another input" not in result.stderr, result.stderr
    assert [p.name for p in out.glob("*.mp4")] == ["clip_final.mp4"]


def test_a_file_name_that_is_not_utf8_is_refused_by_name_and_never_stops_the_others(tmp_path, home):
    folder = tmp_path / "in"
    make_clip(folder / "ok.mp4", 64, 48, frames=12, fps=24)
    bad = folder / os.fsdecode(b"caf\xe9.mp4")  # Latin-1 bytes in a name, as an old archive leaves them
    make_clip(bad, 64, 48, frames=12, fps=24)
    out = tmp_path / "out"
    for given in ([str(folder)], [str(folder / "ok.mp4"), str(bad)]):  # found in a folder, or named
        result = run(home, "run", *given, "--out", str(out), *ARGS)
        no_traceback(result)
        lines = [line for line in result.stderr.splitlines() if line.startswith(("done", "skipped", "failed"))]
        assert result.returncode == 1 and len(lines) == 2, result.stderr[-3000:]
        assert any(line.startswith(("done", "skipped")) and "ok.mp4" in line for line in lines), lines
        refused = next(line for line in lines if line.startswith("failed"))
        assert "caf\\xe9.mp4: the file name is not valid UTF-8" in refused and "rename" in refused, refused
    assert [p.name for p in out.glob("*.mp4")] == ["ok_final.mp4"]
    alone = run(home, "run", str(bad), "--out", str(out), *ARGS)
    assert alone.returncode == 1 and "not valid UTF-8" in alone.stderr and "Traceback" not in alone.stderr


def test_a_nearly_full_work_folder_is_one_line_before_anything_starts(tmp_path, home):
    """Needing more free space than the disk has stands for a nearly full VIDPIPE_HOME (a 3 MB tmpfs took
    127 s and 57 tracebacks before)."""
    make_clip(tmp_path / "in" / "clip.mp4", 64, 48, frames=6, fps=24)
    started = time.monotonic()
    result = run(
        home,
        "run",
        str(tmp_path / "in"),
        "--out",
        str(tmp_path / "out"),
        *ARGS,
        env={"VIDPIPE_MIN_FREE_MB": str(1 << 40)},
    )
    took = time.monotonic() - started
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "VIDPIPE_HOME" in lines[0] and "MB free" in lines[0] and "bigger disk" in lines[0], lines
    assert not (tmp_path / "out").exists() and took < 60, took  # nothing started (about 2 s here)


def test_an_unreachable_upload_endpoint_is_one_line_and_a_rerun_uploads(tmp_path, home, bucket, s3_endpoint):
    """A wrong --upload-endpoint-url: the video, its still and its report are made; one line names the input,
    the output, the endpoint and the cause, quickly (it took 66 s of retries). A rerun still unreachable is
    that video's line (no abort); fixed, a rerun only uploads."""
    name, client = bucket
    src = make_clip(tmp_path / "in" / "clip.mp4", 64, 48, frames=12, fps=24)
    out, final = tmp_path / "out", tmp_path / "out" / "clip_final.mp4"
    wrong = f"http://127.0.0.1:{free_port()}"  # a loopback port nobody listens on

    def upload_to(endpoint: str):
        return run(
            home,
            "run",
            str(src),
            "--out",
            str(out),
            *ARGS,
            "--upload",
            f"s3://{name}/v",
            "--upload-endpoint-url",
            endpoint,
        )

    started = time.monotonic()
    result = upload_to(wrong)
    took = time.monotonic() - started
    no_traceback(result)
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed")]
    assert result.returncode == 1 and len(failed) == 1, result.stderr[-3000:]
    assert f"{src}: made {final}, but upload s3://{name}/v: cannot reach {wrong}" in failed[0]
    assert "(Connection refused)" in failed[0] and took < 60, (failed, took)  # about 12 s here, 2 s of it upload
    assert sorted(p.name for p in out.iterdir()) == ["clip_compare.jpg", "clip_final.mp4"]
    assert "**Upload failed:** upload" in (home / "logs" / "vidpipe.log").read_text()
    still = upload_to(wrong)
    assert still.returncode == 1 and "error:" not in still.stderr, still.stderr[-3000:]  # the video's line, no abort
    assert f"failed  {src}: {final} is complete, but upload" in still.stderr, still.stderr[-3000:]
    again = upload_to(s3_endpoint)
    assert again.returncode == 0 and "skipped" in again.stderr, again.stderr[-3000:]
    assert client.get_object(Bucket=name, Key="v/clip_final.mp4")["Body"].read() == final.read_bytes()
