"""``--hdr keep``: an HDR source (PQ with mastering metadata, HLG) goes through the real
flow 16-bit and comes out 10-bit HEVC with its own signal, tags and metadata; decoded
by the output's own tags (tests/colour_clips.py), each patch is the source's signal.
With an upscale (torch, 16-bit) and a background (placed at HDR reference white)."""

from pathlib import Path

import numpy as np
import pytest
from colour_clips import HLG_TRC, PQ_TRC, add_dovi_box, decoded_patches, write_clip

from vidpipe.config import JobSpec, VideoJob
from vidpipe.errors import ConfigError
from vidpipe.media import tonemap
from vidpipe.media.probe import probe
from vidpipe.media.reader import read_frames
from vidpipe.paths import work_dir

META = "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400"
#: BT.2020 R'G'B' signal values; the first two are 2 ten-bit codes apart (one 8-bit code would hold both)
SIGNAL = np.array(
    [[0.5, 0.5, 0.5], [0.502, 0.502, 0.502], [0.7, 0.3, 0.2], [0.2, 0.6, 0.3], [0.3, 0.3, 0.75], [0.9, 0.9, 0.9]]
)
TOLERANCE = 1.5  # /255 of the signal: 10-bit HEVC at CRF 18 on flat patches


def hdr_clip(tmp_path, transfer: int, meta: str = ""):
    return write_clip(
        tmp_path / f"hdr{transfer}.mp4",
        SIGNAL,
        height=128,
        matrix="bt2020",
        bits=10,
        primaries="bt2020",
        transfer=transfer,
        frames=3,
        hdr_meta=meta,
    )


def newest(folder: Path) -> Path:
    """The segment file a step wrote last (the work folder is shared by the session's tests)."""
    return max(folder.glob("*.nut"), key=lambda p: p.stat().st_mtime_ns)


def run_keep(src, tmp_path, **settings):
    from flows.enhance_video import enhance_video

    job = VideoJob(
        input=str(src),
        output_dir=str(tmp_path / "out"),
        segment_seconds=10,
        preset="ultrafast",
        target="none",
        hdr="keep",
        **settings,
    )
    state = enhance_video(job, return_state=True)
    assert state.is_completed(), state.message
    return state.result().path


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("transfer", [PQ_TRC, HLG_TRC])
def test_keep_delivers_the_source_signal_tags_and_metadata_in_10_bit(transfer, tmp_path):
    meta = META if transfer == PQ_TRC else ""
    src = hdr_clip(tmp_path, transfer, meta)
    out = run_keep(src, tmp_path)
    info, source = probe(out), probe(src)
    assert (info.codec, info.pix_fmt, info.bit_depth) == ("hevc", "yuv420p10le", 10)
    assert info.hdr == source.hdr == ("HDR10 (PQ)" if transfer == PQ_TRC else "HLG")
    assert (info.mastering, info.content_light) == (source.mastering, source.content_light)
    if meta:
        assert info.mastering == "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
        assert info.content_light == "1000,400"
        from typer.testing import CliRunner

        from app.cli import app

        shown = CliRunner().invoke(app, ["probe", str(out)]).output
        assert f"master-display {info.mastering}, max-cll 1000,400" in shown and "--hdr keep HDR kept" in shown
    got, tags = decoded_patches(out, len(SIGNAL))
    assert tags == {
        "colorspace": 9,
        "color_primaries": 9,
        "color_trc": transfer,
        "color_range": 1,
        "pix_fmt": "yuv420p10le",
    }
    print(transfer, np.abs(got - SIGNAL * 255).max(axis=1).round(2).tolist())
    assert np.abs(got - SIGNAL * 255).max() <= TOLERANCE
    assert got[1].mean() - got[0].mean() >= 0.3  # 10-bit steps survive (8 bits would merge them)


@pytest.mark.usefixtures("prefect_api")
def test_keep_upscales_in_16_bit_and_places_the_background_at_reference_white(tmp_path):
    """Upscale x2 (torch, 16-bit in and out) then matte (RVM on the SDR view) and a white
    background: where the matte is clear the output is SDR white placed at HDR
    reference white (PQ of 203 cd/m2); where it is opaque, the upscaled signal itself."""
    from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig

    src = hdr_clip(tmp_path, PQ_TRC, META)
    out = run_keep(src, tmp_path, scale=2, background="#ffffff")
    info = probe(out)
    assert (info.width, info.height, info.pix_fmt, info.hdr) == (768, 256, "yuv420p10le", "HDR10 (PQ)")
    got, _tags = decoded_patches(out, len(SIGNAL))
    work = work_dir() / probe(src).sha256[:16]
    alpha = next(read_frames(newest(work / "matte"), fmt="rgba"))[..., 3]
    upscaled = next(read_frames(newest(work / "upscale"), fmt="rgb48"))
    n, (h, w) = len(SIGNAL), alpha.shape
    centre = [alpha[h // 2, int((i + 0.5) * w / n)] for i in range(n)]
    print("alpha", centre, "got", got.round(1).tolist())
    clear = [i for i, a in enumerate(centre) if a == 0]
    assert clear, "RVM left no patch clear: the test clip needs a change"
    assert np.abs(got[clear] - tonemap.pq_inverse_eotf(tonemap.SDR_WHITE) * 255).max() <= TOLERANCE
    # the flow's upscale is the 16-bit model output itself, kept 16-bit on disk
    first = next(read_frames(src, fmt="rgb48"))
    up = FrameUpscaler(UpscaleConfig(target="none", scale=2, hdr=PQ_TRC), (384, 128), (768, 256)).many([first])[0]
    assert up.dtype == upscaled.dtype == np.uint16
    assert np.abs(up.astype(int) - upscaled).max() <= 2  # of 65535
    model = np.array([up[128, int((i + 0.5) * 768 / n)] for i in range(n)]) / 257
    print("model", (model - SIGNAL * 255).round(2).tolist())
    assert np.abs(model - SIGNAL * 255).max() <= 1  # the colour fix holds in 16-bit (7.6/255 off without it)
    assert model[1].mean() - model[0].mean() >= 0.3  # finer than 8 bits through the model


def test_keep_refuses_what_cannot_carry_hdr_in_one_line(tmp_path):
    from vidpipe import steps

    info = probe(hdr_clip(tmp_path, HLG_TRC))
    with pytest.raises(ConfigError, match="10-bit HEVC.*libx264"):
        steps.get("join").configure(JobSpec(hdr="keep", codec="libx264"), info)
    with pytest.raises(ConfigError, match="restore-faces.*--hdr sdr"):
        steps.get("restore_faces").configure(JobSpec(hdr="keep", restore_faces=True), info)
    from vidpipe.steps.upscale import UpscaleConfig, resolve_backend

    with pytest.raises(ConfigError, match="ncnn takes 8-bit"):
        resolve_backend(UpscaleConfig(backend="ncnn", hdr=HLG_TRC))
    # PQ on BT.709 primaries: the BT.2020 tags would misstate it, so it is tone-mapped as usual
    narrow = probe(
        write_clip(tmp_path / "pq709.mp4", SIGNAL, height=64, matrix="bt709", bits=10, transfer=PQ_TRC, frames=1)
    )
    assert (narrow.hdr, narrow.primaries) == ("HDR10 (PQ)", "bt709")
    assert steps.get("join").configure(JobSpec(hdr="keep"), narrow).hdr == 0
    # an SDR source keeps nothing: the usual 8-bit BT.709 delivery
    sdr = probe(write_clip(tmp_path / "sdr.mp4", SIGNAL, height=64, matrix="bt709", frames=1))
    enc = steps.get("join").configure(JobSpec(hdr="keep"), sdr)
    assert (enc.hdr, enc.pix_fmt) == (0, "yuv420p")


def test_sdr_backgrounds_sit_inside_hdr_as_bt2408_says():
    """from_sdr is the inverse of the tone mapping below its knee (PQ and HLG), and SDR
    white lands on HDR reference white: PQ 58%, HLG 75%."""
    rng = np.random.default_rng(1)
    sdr = rng.integers(0, 170, (32, 32, 3), dtype=np.uint8)  # below 88 cd/m2: the EETF passes it unchanged
    for transfer, white in ((PQ_TRC, 0.5807), (HLG_TRC, 0.75)):
        assert np.abs(tonemap.to_sdr(tonemap.from_sdr(sdr, transfer), transfer, 9).astype(int) - sdr).max() <= 3
        assert abs(tonemap.from_sdr(np.full((1, 1, 3), 255, np.uint8), transfer)[0, 0, 0] / 65535 - white) < 0.003


@pytest.mark.usefixtures("prefect_api")
def test_dolby_vision_8_4_keeps_its_hlg_base_and_profile_5_fails_in_one_line(tmp_path):
    """An iPhone-style Dolby Vision 8.4 file (HLG base layer) keeps its HLG; profile 5
    (no standard base layer: its colours need the RPU) fails in one line naming the file,
    beside the other video of the folder, which is done."""
    from flows.enhance_folder import enhance_folder

    folder = tmp_path / "in"
    folder.mkdir()
    add_dovi_box(hdr_clip(folder, HLG_TRC), 8, 4)
    five = add_dovi_box(
        write_clip(
            folder / "five.mp4",
            SIGNAL,
            height=64,
            matrix="bt2020",
            bits=10,
            primaries="bt2020",
            transfer=PQ_TRC,
            frames=2,
        ),
        5,
        0,
    )
    assert probe(five).hdr == "Dolby Vision profile 5 (base: none)"
    report = enhance_folder(str(folder), str(tmp_path / "out"), JobSpec(target="none", hdr="keep", preset="ultrafast"))
    status = {Path(r.input).name: r for r in report.results}
    bad = status["five.mp4"]
    assert bad.status == "failed" and "five.mp4" in bad.message and "\n" not in bad.message
    assert "Dolby Vision profile 5 has no standard base layer" in bad.message
    assert status[f"hdr{HLG_TRC}.mp4"].status == "done"
    out = probe(tmp_path / "out" / f"hdr{HLG_TRC}_final.mp4")
    assert (out.hdr, out.pix_fmt) == ("HLG", "yuv420p10le")
    assert not (tmp_path / "out" / "five_final.mp4").exists()


@pytest.mark.usefixtures("prefect_api")
def test_keep_with_a_low_res_matte_blur_and_an_alpha_export(tmp_path):
    """Matte before upscale (the alpha scaled up inside the 16-bit composite), a blurred
    background made from the HDR frames, and a ProRes alpha export: the video stays HDR
    10-bit; the export is SDR BT.709, its colour the upscaled HDR frames tone-mapped."""
    src = hdr_clip(tmp_path, PQ_TRC, META)
    out = run_keep(src, tmp_path, scale=2, background="blur", matte_before_upscale=True, export_alpha="prores")
    assert (probe(out).hdr, probe(out).pix_fmt) == ("HDR10 (PQ)", "yuv420p10le")
    export = Path(out).with_name(Path(out).stem + "_alpha.mov")
    got = probe(export)
    assert (got.hdr, got.matrix, got.primaries, got.transfer, got.frame_count) == ("SDR", "bt709", "bt709", "bt709", 3)
    upscaled = next(read_frames(newest(work_dir() / probe(src).sha256[:16] / "upscale"), fmt="rgb48"))
    expect = tonemap.to_sdr(upscaled, PQ_TRC, 9)
    rgba = next(read_frames(export, fmt="rgba"))
    xs = [int((i + 0.5) * 768 / len(SIGNAL)) for i in range(len(SIGNAL))]
    diff = np.abs(rgba[128, xs, :3].astype(int) - expect[128, xs])
    print("export vs tone-mapped", diff.max(axis=1).tolist())
    assert diff.max() <= 3
