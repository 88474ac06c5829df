"""`vidpipe run`'s options come from JobSpec (names, defaults, help, bounds: one
source), and the option names of 0.1 still work, with a note."""

from __future__ import annotations

import warnings

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.options import flag
from vidpipe.config import RENAMED, JobSpec, VideoJob


def _run_with(monkeypatch, args: list[str]):
    """Parse ``vidpipe run ARGS`` and return the JobSpec the folder flow would get."""
    import flows.enhance_folder as folder

    seen = {}

    def capture(output_dir, settings, files):
        seen["spec"] = settings
        return folder.FolderReport([folder.FileResult(files[0], "skipped", message="parsed")])

    monkeypatch.setattr(folder, "enhance_folder", capture)
    r = CliRunner().invoke(app, ["run", "clip.mp4", *args])
    return r, seen.get("spec")


def test_every_jobspec_field_is_an_option_with_its_default_and_help_whole_at_80_columns():
    r = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert max(map(len, r.output.splitlines())) <= 80
    names = {w.rstrip(",") for line in r.output.splitlines() for w in line.split() if w.startswith("--")}
    words = " ".join(r.output.split())
    for name, info in JobSpec.model_fields.items():
        assert flag(name) in names, name  # the whole name, as a word of its own
        if info.annotation is bool:
            assert "--no-" + flag(name)[2:] in names, name
        assert " ".join((info.description or "").split()[1:5]) in words, name  # the field's own words
        assert f"Step {JobSpec.step_of(name)}:" in r.output
    for old in RENAMED:
        assert flag(old) not in r.output.replace(flag(RENAMED[old]), "")  # old names are hidden


def test_defaults_and_values_reach_the_spec(monkeypatch):
    r, spec = _run_with(monkeypatch, [])
    assert r.exit_code == 0, r.output
    assert spec == JobSpec()  # every CLI default is JobSpec's own
    r, spec = _run_with(
        monkeypatch,
        [
            "--restore-faces",
            "--export-alpha",
            "webm",
            "--upscale-tile",
            "128",
            "--no-matte-input-alpha",
            "--scale",
            "2.5",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (spec.restore_faces, spec.export_alpha, spec.upscale_tile) == (True, "webm", 128)
    assert spec.matte_input_alpha is False and spec.scale == 2.5


def test_old_option_names_still_work_with_a_note(monkeypatch):
    args = [
        "--face-restore",
        "--face-model",
        "x.pth",
        "--face-fidelity",
        "0.5",
        "--alpha-output",
        "png",
        "--backend",
        "ncnn",
        "--tile",
        "64",
        "--no-input-alpha",
        "--s3-endpoint-url",
        "http://s3",
        "--aws-credentials-block",
        "creds",
    ]
    r, spec = _run_with(monkeypatch, args)
    assert r.exit_code == 0, r.output
    assert spec.restore_faces and spec.restore_faces_model == "x.pth" and spec.restore_faces_fidelity == 0.5
    assert (spec.export_alpha, spec.upscale_backend, spec.upscale_tile) == ("png", "ncnn", 64)
    assert spec.matte_input_alpha is False
    assert (spec.upload_endpoint_url, spec.upload_credentials_block) == ("http://s3", "creds")
    assert "note: --face-restore is now --restore-faces" in r.output
    assert "note: --alpha-output is now --export-alpha" in r.output


def test_a_bound_from_jobspec_is_one_line_naming_the_option(monkeypatch):
    r, _ = _run_with(monkeypatch, ["--scale", "1.0"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "--scale: Input should be greater than 1" in r.output


def test_old_setting_names_in_python_and_api_parameters():
    with pytest.warns(FutureWarning) as said:
        job = VideoJob(input="a.mp4", face_restore=True, alpha_output="prores")
    assert sorted(str(w.message).split(" (")[0] for w in said) == [
        "the setting alpha_output is now export_alpha",
        "the setting face_restore is now restore_faces",
    ]
    assert job.restore_faces and job.export_alpha == "prores"
    with pytest.raises(ValueError, match="give only restore_faces"):
        JobSpec(face_restore=True, restore_faces=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="Extra inputs are not permitted"):
            VideoJob(input="a.mp4", restore_face=True)  # a typo is still an error
    # the server checks run parameters against the schema first: it must let old names through
    assert "additionalProperties" not in VideoJob.model_json_schema()
