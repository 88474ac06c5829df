"""The layering holds: import-linter's contracts pass (and fail on a deliberate
violation), the engine imports no Prefect at run time, and the sample clip `make run`
writes is usable."""

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

import vidpipe
from vidpipe.media.probe import probe

LINT = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = ("vidpipe", "tasks", "flows", "deployments", "app")


def test_import_contracts_are_kept():
    r = subprocess.run([LINT], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 kept, 0 broken" in r.stdout


def test_ruff_finds_nothing_to_fix_or_reformat():
    """The lint rules and the format in pyproject.toml ([tool.ruff]) hold everywhere."""
    ruff = str(Path(sys.executable).with_name("ruff"))
    for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        r = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, f"ruff {' '.join(args)}:\n{r.stdout}{r.stderr}"


def test_a_deliberate_violation_breaks_the_contracts(tmp_path):
    """A scratch copy of the project with an engine module that imports Prefect and a
    task module that imports a flow: lint-imports names both."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "vidpipe" / "scratch_engine.py").write_text("import prefect\n")
    (tmp_path / "tasks" / "scratch_task.py").write_text("from flows import enhance_video\n")
    r = subprocess.run([LINT], cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)})
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "The engine never imports Prefect BROKEN" in out and "vidpipe.scratch_engine -> prefect" in out
    assert "never upwards BROKEN" in out and "tasks.scratch_task -> flows" in out


def test_no_engine_module_imports_prefect_at_run_time():
    engine = sorted(m.name for m in pkgutil.walk_packages(vidpipe.__path__, "vidpipe."))
    assert "vidpipe.steps.upscale" in engine and "vidpipe.pipeline" in engine
    code = (
        f"import importlib, sys\nfor m in {engine!r}: importlib.import_module(m)\n"
        "import app.cli\n"  # the CLI itself loads Prefect only inside `run` (probe, models, doctor stay light)
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'tasks', 'flows', 'deployments'))\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_sample_clip_has_video_and_audio(tmp_path, monkeypatch):
    from app.cli import _ensure_sample

    _ensure_sample(tmp_path / "downloads")
    info = probe(tmp_path / "downloads" / "sample.mp4")
    assert (info.width, info.height) == (270, 480) and info.frame_count == 36
    assert len(info.audio) == 1 and abs(info.audio[0].duration - info.duration) < 0.05
    _ensure_sample(tmp_path / "downloads")  # a folder with a video is left alone
    assert len(list((tmp_path / "downloads").iterdir())) == 1


def test_no_test_module_imports_another():
    """What tests share lives in tests/helpers.py (and the fixtures in conftest.py)."""
    import ast

    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n.split(".")[0].startswith(("test_", "conftest")) for n in names), f"{path.name}: {names}"
