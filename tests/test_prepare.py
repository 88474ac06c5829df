"""One preparation per run (vidpipe.jobs.prepare): the CLI and the flows share it, so one
`vidpipe run` checks the background once, lists the output folder once and plans each
video once. Planning opens no network connection; a step's key follows every module it
imports; the settings' rules hold for every front end; steps take typed inputs."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from vidpipe import jobs, pipeline, version
from vidpipe.config import JobSpec, VideoJob, explain
from vidpipe.errors import ModelNotAvailable
from vidpipe.media import background
from vidpipe.media.probe import probe
from vidpipe.steps.split import timeline

ROOT = Path(__file__).resolve().parents[1]
STEPS = sorted((ROOT / "vidpipe" / "steps").glob("*.py"))


def _count_work(monkeypatch, out: Path) -> Counter:
    """Counts of what a run does more than once if its layers redo each other's work:
    background files inspected, listings of ``out``, plans per video."""
    counts: Counter = Counter()
    background._checked.clear()  # this process may have checked it before
    inspect = background._inspect
    monkeypatch.setattr(background, "_inspect", lambda path: counts.update(["background"]) or inspect(path))
    plan_video = pipeline.plan_video

    def plan(info, *args, **kwargs):
        counts[f"plan {Path(info.path).name}"] += 1
        return plan_video(info, *args, **kwargs)

    monkeypatch.setattr(pipeline, "plan_video", plan)
    monkeypatch.setattr(jobs, "plan_video", plan)
    target = out.resolve()
    for name in ("listdir", "scandir"):  # what Path.iterdir, glob and rglob call
        real = getattr(os, name)

        def listed(path=".", _real=real):
            if Path(path).resolve() == target:
                counts["listings of --out"] += 1
            return _real(path)

        monkeypatch.setattr(os, name, listed)
    return counts


def test_one_run_checks_the_background_lists_the_output_folder_and_plans_each_video_once(tmp_path, clip, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name in ("a", "b"):
        src = clip(name, width=48, height=32, frames=8, fps=24)
        (folder / f"{name}.mp4").write_bytes(src.read_bytes())
    back = tmp_path / "bg.png"
    cv2.imwrite(str(back), np.full((32, 48, 3), (40, 160, 90), np.uint8))
    args = [
        "run",
        str(folder),
        "--out",
        str(out),
        "--target",
        "none",
        "--scale",
        "2",
        "--preset",
        "ultrafast",
        "--background",
        str(back),
        "--no-sample",
    ]
    from app.cli import app

    counts = _count_work(monkeypatch, out)
    first = CliRunner().invoke(app, args)  # makes both: through the flows
    assert first.exit_code == 0, first.output
    assert first.output.count("done") == 2
    once = Counter({"background": 1, "plan a.mp4": 1, "plan b.mp4": 1})
    assert counts == once, counts  # --out did not exist yet: nothing to list

    counts.clear()
    background._checked.clear()
    again = CliRunner().invoke(app, args)  # finished outputs: the no-op rerun
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") == 2
    assert counts == once + Counter({"listings of --out": 1}), counts

    (out / "b_final.mp4").unlink()
    counts.clear()
    background._checked.clear()
    third = CliRunner().invoke(app, args)  # one output finished, one to make: through the flows again
    assert third.exit_code == 0, third.output
    assert third.output.count("skipped") == 1 and third.output.count("done") == 1
    assert counts == once + Counter({"listings of --out": 1}), counts


@pytest.mark.parametrize(
    "settings,model",
    [
        ({"background": "#00ff00"}, "rvm_mobilenetv3_fp32"),  # a download URL
        ({"fps": "30"}, "rife-v4.2x"),  # a file inside a wheel pip would fetch
        ({"restore_faces": True}, "GFPGANv1.4"),
    ],
)
def test_planning_with_a_missing_model_file_is_one_clear_error_and_opens_no_connection(
    tmp_path, clip, monkeypatch, settings, model
):
    monkeypatch.setenv("VIDPIPE_MODELS_DIR", str(tmp_path / "none here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tried: list = []

    def connect(sock, address):
        tried.append(address)
        raise OSError("the network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: connect(None, address))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: tried.append(a) or (_ for _ in ()).throw(OSError("no")))
    src = clip(width=64, height=48, frames=40, fps=15)
    info = probe(src)
    spec = JobSpec(target="none", scale=2, **settings)
    with pytest.raises(ModelNotAvailable, match=rf"not found in .*vidpipe models download {model}"):
        pipeline.plan_video(info, timeline(info, 10.0), spec, tmp_path / "out.mp4")
    assert tried == []


def test_a_steps_key_follows_every_module_it_imports_and_no_list_is_kept_by_hand(monkeypatch):
    matte, upscale = "vidpipe.steps.matte", "vidpipe.steps.upscale"
    assert {"vidpipe.models.rvm_onnx", "vidpipe.media.reader", "vidpipe.media.colour"} <= set(version.imported(matte))
    assert "vidpipe.models.rife" in version.imported("vidpipe.steps.interpolate")  # imported inside a function
    assert "vidpipe.media.colour" in version.imported("vidpipe.steps.join")  # through media.encode
    for step in (matte, upscale):  # another step's code, the settings' declarations, bookkeeping: not in the key
        assert not {
            "vidpipe.steps.composite",
            "vidpipe.steps.interpolate",
            "vidpipe.models.rife",
            "vidpipe.config",
            "vidpipe.telemetry",
            "vidpipe.progress",
        } & set(version.imported(step)), version.imported(step)
    before = {m: version.code_version(m) for m in (matte, upscale)}
    real = version.source

    def edited(*names):
        version.forget()
        monkeypatch.setattr(version, "source", lambda m: real(m) + ("\n# edited\n" if m in names else ""))
        return {m: version.code_version(m) for m in (matte, upscale)}

    try:
        after = edited("vidpipe.models.rvm_onnx")
        assert after[matte] != before[matte] and after[upscale] == before[upscale]  # matte runs rvm_onnx
        after = edited("vidpipe.media.reader")  # both decode frames with it
        assert after[matte] != before[matte] and after[upscale] != before[upscale]
        assert edited("vidpipe.config", "vidpipe.steps.interpolate", "vidpipe.models.rife") == before
    finally:
        monkeypatch.undo()
        version.forget()
    for path in STEPS:  # every key's code version is its own module's, derived: code_version(__name__)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "code_version":
                assert [ast.unparse(a) for a in node.args] == ["__name__"], f"{path.name}: {ast.unparse(node)}"


def test_code_versions_are_the_same_from_many_threads_and_survive_a_python_311_parse_race(monkeypatch):
    """CPython 3.11's ast.parse can fail with a SystemError when another thread parses at the same time (a
    worker's flow run failed so once): vidpipe's parses take turns, and one that still meets the error is tried
    again."""
    from concurrent.futures import ThreadPoolExecutor

    steps = [f"vidpipe.steps.{p.stem}" for p in STEPS]
    serial = {m: version.code_version(m) for m in steps}
    version.forget()
    with ThreadPoolExecutor(8) as pool:
        assert dict(zip(steps, pool.map(version.code_version, steps))) == serial
    real, failed = ast.parse, []

    def racy(text, *args, **kwargs):
        if not failed:
            failed.append(True)
            raise SystemError("AST constructor recursion depth mismatch (before=69, after=75)")
        return real(text, *args, **kwargs)

    version.forget()
    monkeypatch.setattr(version.ast, "parse", racy)
    try:
        assert version.code_version(steps[0]) == serial[steps[0]] and failed
    finally:
        monkeypatch.undo()
        version.forget()


def test_target_and_scale_together_are_refused_with_one_message_by_every_front_end():
    from app.cli import app

    message = "give --target 720p (the short side of the output) or --scale (a factor), not both"
    with pytest.raises(ValidationError) as api:  # a job from the API or the UI form (Prefect validates it so)
        VideoJob.model_validate({"input": "a.mp4", "target": "720p", "scale": 2})
    assert explain(api.value) == message
    cli = CliRunner().invoke(app, ["run", "a.mp4", "--target", "720p", "--scale", "2"])
    assert cli.exit_code == 1 and message in " ".join(cli.output.split())
    assert JobSpec(scale=2).size_target == "1080p" and JobSpec(target="none", scale=2).scale == 2  # scale decides
    assert JobSpec().size_target == "1080p" and JobSpec(target="720p").size_target == "720p"


def test_steps_take_typed_inputs_and_at_most_four_positional_parameters():
    for path in STEPS:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                assert len(names) <= 4, f"{path.name}: {node.name}{tuple(names)}"
            if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("inputs"):
                raise AssertionError(f"{path.name}: {ast.unparse(node)}: inputs are typed (steps.base.Inputs)")
            if path.name == "join.py" and isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                raise AssertionError(f"join.py: {ast.unparse(node)}: every source is read the same way")


def test_an_input_replaced_after_the_run_was_prepared_is_made_again_not_skipped(tmp_path, clip, prefect_api):
    from helpers import SMALL

    from flows.enhance_folder import enhance_folder

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    src = folder / "a.mp4"
    src.write_bytes(clip("short", width=48, height=32, frames=6, fps=24).read_bytes())
    spec = JobSpec(**SMALL)
    first = enhance_folder(str(folder), str(out), spec)
    assert [r.status for r in first.results] == ["done"]
    batch = jobs.prepare(spec, [str(folder)], out)
    assert batch.all_current  # prepared while the old output is complete for the old input
    src.write_bytes(clip("longer", width=48, height=32, frames=12, fps=24).read_bytes())  # replaced before its turn
    with jobs.using(batch):
        again = enhance_folder(str(folder), str(out), spec)
    assert [r.status for r in again.results] == ["done"], again.results
    assert probe(out / "a_final.mp4").frame_count == 12
