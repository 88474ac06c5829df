"""The step protocol end to end: a step registered only here runs through the real
flow with caching and resume (no line in tasks/ or flows/); the folder skip uses the
join's key, so a model file replaced in place or a step's code changed re-runs the
video; models load once per process; a background video is decoded from each
segment's start."""

from __future__ import annotations

import importlib
import linecache
import shutil
import sys
import textwrap
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL, psnr, task_states

from vidpipe import steps
from vidpipe.config import JobSpec, VideoJob
from vidpipe.errors import MediaError
from vidpipe.hashing import digest
from vidpipe.media.pipeline import write_segment
from vidpipe.media.reader import read_frames
from vidpipe.media.writer import segment_path
from vidpipe.steps import Needs, Plan, SegmentWork, Step
from vidpipe.steps.base import Inputs, run_to
from vidpipe.version import code_version, forget

pytestmark = pytest.mark.usefixtures("prefect_api")


@dataclass(frozen=True)
class InvertConfig:
    pass


class Invert(Step):
    """A per-segment step that exists only in this test: 255 - every pixel."""

    name = "invert"
    scope = "segment"
    needs = Needs(intermediate=True, frames=True)
    consumes = ("frames",)
    produces = "frames"

    def __init__(self):
        self.fail_once: set[str] = set()  # segments whose first attempt dies, as a crash would
        self.runs = 0

    def configure(self, spec, info):
        return InvertConfig()

    def plan(self, work: SegmentWork) -> Plan:
        key = digest("invert", code_version(__name__), Path(work.inputs.frames).name)
        out = segment_path(work.info.sha256, "invert", work.segment.name, key)
        return Plan(key, out, work.size, frames=work.segment.n_frames)

    def run(self, work: SegmentWork, plan: Plan, on_frame=None) -> str:
        if work.segment.name in self.fail_once:
            self.fail_once.discard(work.segment.name)
            raise MediaError(f"{work.segment.name}: injected failure")
        self.runs += 1
        frames = read_frames(work.inputs.frames)
        return str(
            write_segment(
                frames, lambda f: 255 - f, plan.out, work.size, work.info.fps, work.segment.n_frames, on_frame=on_frame
            )
        )


def test_a_step_registered_at_run_time_runs_with_caching_and_resume(dance, tmp_path):
    from flows.enhance_video import enhance_video

    job = VideoJob(input=str(dance), output_dir=str(tmp_path / "out"), **SMALL)
    invert = Invert()
    invert.fail_once = {"seg0001"}
    with steps.registered(invert, after="upscale"):
        crashed = enhance_video(job, return_state=True)
        assert crashed.is_failed() and "injected failure" in str(crashed.result(raise_on_failure=False))
        assert not (tmp_path / "out" / "dance_final.mp4").exists()

        resumed = enhance_video(job, return_state=True)
        assert resumed.is_completed(), resumed.message
        states = task_states(resumed)
        assert states["upscale-seg0000"] == states["upscale-seg0001"] == "Cached"
        assert states["invert-seg0000"] == "Cached" and states["invert-seg0001"] == "Completed"
        assert invert.runs == 2  # each segment inverted once across the crash and the resume
        assert "invert" in resumed.result().engine

        again = enhance_video(job, return_state=True)
        states = task_states(again)
        assert {v for k, v in states.items() if k.startswith(("upscale", "invert", "join"))} == {"Cached"}
    assert "invert" not in [s.name for s in steps.all_steps()]  # registered for this test only

    # the delivered frames are the upscaled frames, inverted
    from vidpipe.media.probe import probe
    from vidpipe.steps import upscale
    from vidpipe.steps.split import timeline

    info = probe(dance)
    first = timeline(info, job.segment_seconds).segments[0]
    upscaled = upscale.plan(SegmentWork(info, first, upscale.STEP.configure(job.spec(), info))).out
    assert psnr(255 - next(read_frames(upscaled)), next(read_frames(resumed.result().path))) > 30


def _folder(tmp_path: Path, clip) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    shutil.copy(clip(width=64, height=36, frames=12, fps=24), folder / "a.mp4")
    return folder


def _status(report) -> str:
    [r] = report.results
    return r.status


@pytest.mark.slow
def test_folder_skip_sees_a_model_file_replaced_in_place(tmp_path, clip, weights):
    """Same path, different bytes: the upscale key (model sha256) changes, so the join
    key changes, so the output is not current any more."""
    import torch

    from flows.enhance_folder import enhance_folder

    model = tmp_path / "models" / "mine.pth"
    model.parent.mkdir()
    shutil.copy(weights("realesr-animevideov3.pth"), model)
    folder, out = _folder(tmp_path, clip), tmp_path / "final_output"
    spec = JobSpec(**{**SMALL, "upscale_model": str(model), "upscale_backend": "torch"})
    assert _status(enhance_folder(str(folder), str(out), spec)) == "done"
    assert _status(enhance_folder(str(folder), str(out), spec)) == "skipped"
    before = (out / "a_final.mp4").read_bytes()

    state = torch.load(model, map_location="cpu", weights_only=True)
    params = state.get("params", state)
    name = next(k for k, v in params.items() if v.dtype.is_floating_point)
    params[name] = params[name] * 0.5  # a different network at the same path
    torch.save(state, model)
    assert _status(enhance_folder(str(folder), str(out), spec)) == "done"
    assert (out / "a_final.mp4").read_bytes() != before
    assert _status(enhance_folder(str(folder), str(out), spec)) == "skipped"


STEP_SOURCE = """
from pathlib import Path
from vidpipe.hashing import digest
from vidpipe.media.pipeline import write_segment
from vidpipe.media.reader import read_frames
from vidpipe.media.writer import segment_path
from vidpipe.steps import Needs, Plan, Step
from vidpipe.version import code_version

GAIN = {gain}


class Darken(Step):
    name = "darken"
    scope = "segment"
    needs = Needs(intermediate=True, frames=True)
    consumes = ("frames",)

    def configure(self, spec, info):
        return GAIN

    def plan(self, work):
        key = digest("darken", code_version(__name__), Path(work.inputs.frames).name)
        return Plan(key, segment_path(work.info.sha256, "darken", work.segment.name, key), work.size)

    def run(self, work, plan, on_frame=None):
        frames = read_frames(work.inputs.frames)
        return str(write_segment(frames, lambda f: (f * GAIN).astype(f.dtype), plan.out, work.size,
                                 work.info.fps, work.segment.n_frames))


STEP = Darken()
"""


@pytest.mark.slow
def test_folder_skip_sees_a_step_whose_code_changed(tmp_path, clip, monkeypatch):
    from flows.enhance_folder import enhance_folder

    code = tmp_path / "plugin"
    code.mkdir()
    source = code / "darken_step.py"
    source.write_text(textwrap.dedent(STEP_SOURCE.format(gain=0.5)))
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    module = importlib.import_module("darken_step")
    folder, out = _folder(tmp_path, clip), tmp_path / "final_output"
    spec = JobSpec(**SMALL)
    try:
        with steps.registered(module.STEP):
            assert _status(enhance_folder(str(folder), str(out), spec)) == "done"
            assert _status(enhance_folder(str(folder), str(out), spec)) == "skipped"
        source.write_text(textwrap.dedent(STEP_SOURCE.format(gain=0.25)))  # new code, same step
        linecache.checkcache(str(source))
        forget()
        module = importlib.reload(module)
        with steps.registered(module.STEP):
            assert _status(enhance_folder(str(folder), str(out), spec)) == "done"
            assert _status(enhance_folder(str(folder), str(out), spec)) == "skipped"
    finally:
        forget()
        sys.modules.pop("darken_step", None)
    # and the darkening really ran: the delivered frames are a quarter as bright as upscaled
    assert float(next(read_frames(out / "a_final.mp4")).mean()) < 60


def test_restore_faces_loads_each_network_once_per_process(dance, tmp_path, random_gfpgan):
    from flows.enhance_video import enhance_video
    from vidpipe.models import cache

    model = tmp_path / "gfpgan_copy.pth"  # a file this process has not loaded yet
    shutil.copy(random_gfpgan, model)
    before = dict(cache.loads)
    job = VideoJob(
        input=str(dance),
        output_dir=str(tmp_path / "out"),
        restore_faces=True,
        restore_faces_model=str(model),
        **{**SMALL, "segment_seconds": 0.34},
    )
    state = enhance_video(job, return_state=True)
    assert state.is_completed(), state.message
    ran = [k for k, v in task_states(state).items() if k.startswith("restore_faces-") and v == "Completed"]
    assert len(ran) == 3
    assert cache.loads["gfpgan"] - before.get("gfpgan", 0) == 1  # three segments, one load
    assert cache.loads["yunet"] - before.get("yunet", 0) <= 1


def test_composite_decodes_a_background_video_from_each_segments_start(tmp_path, clip, weights, monkeypatch):
    """Three segments onto a 4 s background video (intra-only, so a seek lands exactly):
    each segment decodes only the background frames its own times cover, once each."""
    from vidpipe.media import background
    from vidpipe.media.probe import probe, scan_timestamps
    from vidpipe.media.writer import LosslessWriter
    from vidpipe.steps import composite as step
    from vidpipe.steps.split import timeline

    back = clip(name="back", width=48, height=32, frames=96, fps=24, codec="ffv1", suffix=".mkv", audio=False)
    src = clip(width=48, height=32, frames=72, fps=24)
    info = probe(src)
    segs = timeline(info, 1.0)
    assert len(segs.segments) == 3
    made = []

    class Counted(background.Background):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(step.bg, "Background", Counted)
    bg_pts, bg_tb = scan_timestamps(back, 0), Fraction(probe(back).time_base)
    bg_times = [float((p - bg_pts[0]) * bg_tb) for p in bg_pts]
    cfg = step.CompositeConfig(str(back), background.check(str(back)))
    for seg in segs.segments:
        frames = tmp_path / f"f{seg.index}.nut"
        matte = tmp_path / f"m{seg.index}.nut"
        with LosslessWriter(frames, 48, 32, fps=24) as w, LosslessWriter(matte, 48, 32, fps=24, alpha=True) as m:
            for _ in range(seg.n_frames):
                w.write(np.zeros((32, 48, 3), np.uint8))
                m.write(np.zeros((32, 48, 4), np.uint8))  # alpha 0: all background
        work = SegmentWork(info, seg, cfg, Inputs(str(frames), str(matte)), (48, 32), segs.pts(seg))
        out = tmp_path / f"c{seg.index}.nut"
        run_to(step.STEP, work, out)
        needed = {max(i for i, t in enumerate(bg_times) if t <= time + 1e-9) for time in work.times}
        decoded = made[-1]._video.decoded[0]
        # forward from the segment's first background frame to its last, each frame once
        assert decoded == max(needed) - min(needed) + 1, (seg.index, decoded, sorted(needed))
        assert min(needed) > 0 or seg.index == 0  # later segments never start from frame 0
        got = [f for f in read_frames(out)]
        assert len(got) == seg.n_frames
