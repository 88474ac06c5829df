"""The plan of a video, computed before anything runs (no Prefect): which steps, in
what order, waiting for what, with which keys; the disk estimate from the same list."""

from __future__ import annotations

import pytest

from vidpipe.config import JobSpec
from vidpipe.errors import ConfigError
from vidpipe.media.probe import probe
from vidpipe.pipeline import plan_video
from vidpipe.steps.base import Inputs
from vidpipe.steps.split import timeline


@pytest.fixture
def video(clip):
    info = probe(clip(width=64, height=36, frames=24, fps=24))
    return info, timeline(info, 0.5)


@pytest.fixture(autouse=True)
def _weights(weights):
    weights("rvm_mobilenetv3_fp32.onnx")
    weights("face_detection_yunet_2023mar.onnx")


def _names(plan):
    return [f"{i.step.name}-{i.work.label}" for i in plan.items]


def test_every_unit_waits_only_for_units_planned_before_it(video, random_gfpgan, tmp_path):
    info, tl = video
    spec = JobSpec(
        target="none",
        scale=2,
        restore_faces=True,
        restore_faces_model=str(random_gfpgan),
        background="#00FF00",
        export_alpha="png",
    )
    plan = plan_video(info, tl, spec, tmp_path / "a_final.mp4")
    assert _names(plan) == [
        f"{s}-seg000{i}" for s in ("upscale", "restore_faces", "matte", "composite") for i in range(2)
    ]
    for n, unit in enumerate(plan.items):
        assert all(d < n for d in unit.deps)  # a first-in-first-out pool can never deadlock
    up0, up1, rf0, rf1, m0, m1, c0, c1 = plan.items
    assert rf1.work.inputs.frames == str(up1.plan.out)
    assert set(m1.deps) == {3, 4} and m1.work.inputs.prev == str(m0.plan.out)  # in order: the state hand-over
    assert c1.work.inputs == Inputs(frames=str(rf1.plan.out), matte=str(m1.plan.out))
    assert [plan.items[i] for i in plan.final] == [c0, c1]
    # composite is streamed into join: no task, no file; join waits on what it reads
    assert plan.tasks == list(range(6)) and c0.plan.out is None and plan.ready(7) == (3, 5)
    assert [s.plan for s in plan.join.work.segments] == [c0.plan, c1.plan]
    assert set(plan.join.deps) == {2, 3, 4, 5}
    assert (
        plan.disk_bytes()
        == plan_video(
            info, tl, spec.model_copy(update={"background": "#0000FF"}), tmp_path / "a_final.mp4"
        ).disk_bytes()
    )
    assert plan.export_alpha.work.colors is None  # matte at the frames' size: its own colour
    assert plan.describe().startswith("upscale realesr-animevideov3 on ncnn/cpu, restore_faces ")
    assert plan.disk_bytes() > plan_video(info, tl, JobSpec(target="none", scale=2), tmp_path / "a.mp4").disk_bytes()


def test_keys_follow_what_changes(video, tmp_path):
    info, tl = video
    base = JobSpec(target="none", scale=2, background="#00FF00")
    a = plan_video(info, tl, base, tmp_path / "a.mp4")
    b = plan_video(info, tl, base.model_copy(update={"background": "#0000FF"}), tmp_path / "a.mp4")
    keys = lambda p, s: [i.plan.key for i in p.of(s)]  # noqa: E731
    assert keys(a, "upscale") == keys(b, "upscale") and keys(a, "matte") == keys(b, "matte")
    assert keys(a, "composite") != keys(b, "composite") and a.join.plan.key != b.join.plan.key
    c = plan_video(info, tl, base.model_copy(update={"crf": 30}), tmp_path / "a.mp4")
    assert keys(a, "composite") == keys(c, "composite") and a.join.plan.key != c.join.plan.key
    assert a.join.plan.tag == plan_video(info, tl, base, tmp_path / "a.mp4").join.plan.tag  # stable


def test_matte_before_upscale_reads_the_source_and_alpha_takes_colour_from_the_frames(video, tmp_path):
    info, tl = video
    spec = JobSpec(target="none", scale=2, export_alpha="webm", matte_before_upscale=True)
    plan = plan_video(info, tl, spec, tmp_path / "a_final.mp4")
    mattes = plan.of("matte")
    assert mattes[0].plan.size == (64, 36) and plan.of("upscale")[0].plan.size == (128, 72)
    assert plan.export_alpha.work.colors == tuple(str(u.plan.out) for u in plan.of("upscale"))
    assert str(plan.export_alpha.plan.out).endswith("a_final_alpha.webm")
    # the matte's key does not depend on the upscale: a new model re-mattes nothing
    other = plan_video(info, tl, spec.model_copy(update={"upscale_tile": 32}), tmp_path / "a_final.mp4")
    assert [u.plan.key for u in other.of("matte")] == [u.plan.key for u in mattes]


def test_a_step_reading_a_streamed_output_is_a_config_error(video, tmp_path, random_gfpgan):
    from vidpipe import steps
    from vidpipe.steps import restore_faces

    info, tl = video
    with steps.registered(type("Late", (restore_faces.RestoreFaces,), {"name": "late"})(), after="composite"):
        with pytest.raises(ConfigError, match="late reads the frames of composite, which are made on the fly"):
            spec = JobSpec(
                target="none", scale=2, background="blur", restore_faces=True, restore_faces_model=str(random_gfpgan)
            )
            plan_video(info, tl, spec, tmp_path / "a.mp4")


def test_a_step_reading_what_nobody_writes_is_a_config_error(video, tmp_path):
    from vidpipe import steps
    from vidpipe.steps import composite

    info, tl = video
    with steps.registered(type("Early", (composite.Composite,), {"name": "early"})(), after="upscale"):
        with pytest.raises(ConfigError, match="early reads 'matte'"):
            plan_video(info, tl, JobSpec(target="none", scale=2, background="blur"), tmp_path / "a.mp4")
