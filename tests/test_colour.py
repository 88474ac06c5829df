"""Picture fidelity: colour-patch clips built here from known R'G'B' values with the
standard formulas (tests/colour_clips.py), run through the real flow, decoded the way
a player decodes the output (by its own tags, with the same formulas), compared with
the truth; HDR ramps through the tone mapping; what ``vidpipe probe`` says."""

import json

import av
import numpy as np
import pytest
from colour_clips import (
    BT709_TO_2020,
    HLG_TRC,
    PATCHES,
    PQ_TRC,
    decoded_patches,
    hlg_signal,
    pq_signal,
    rgb_from_ycbcr,
    write_clip,
    write_rgb_clip,
    ycbcr,
)
from typer.testing import CliRunner

from vidpipe.config import VideoJob
from vidpipe.media import tonemap
from vidpipe.media.colour import parse_dovi_config
from vidpipe.media.encode import EncodeConfig, deliver, read_source, read_tag, source_id
from vidpipe.media.probe import probe, scan_timestamps
from vidpipe.media.reader import read_frames

BT709_TAGS = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1}
TOLERANCE = 5  # /255, per channel, at each patch's centre
#: BT.2020 10-bit: no channel at 0 (there one 10-bit code of the source is up to 13/255
#: after the 2.4 gamma: quantisation no decoder can undo)
SOFT = np.array([[220, 60, 40], [50, 200, 70], [40, 70, 210], [210, 200, 60], [64, 128, 192], [200, 120, 80]], float)


def run_flow(src, tmp_path, **settings):
    from flows.enhance_video import enhance_video

    job = VideoJob(
        input=str(src),
        output_dir=str(tmp_path / "out"),
        segment_seconds=10,
        preset="ultrafast",
        target="none",
        **settings,
    )
    state = enhance_video(job, return_state=True)
    assert state.is_completed(), state.message
    return state.result().path


CASES = {
    # name: (truth, write_clip arguments, flow settings)
    "hd-bt709-tagged": (PATCHES, dict(height=720, matrix="bt709"), {}),
    "hd-untagged": (PATCHES, dict(height=720, matrix="bt709", tagged=False), {}),  # players assume BT.709
    "sd-untagged": (PATCHES, dict(height=240, matrix="bt601", tagged=False), {"scale": 2}),  # ... and BT.601 here
    "bt709-full-range": (PATCHES, dict(height=240, matrix="bt709", full=True), {"scale": 2}),
    "bt2020-sdr-10bit": (SOFT, dict(height=240, matrix="bt2020", bits=10, primaries="bt2020"), {}),
}


def model_colours(truth: np.ndarray, size: tuple[int, int], scale: float, colour_fix: bool = True) -> np.ndarray:
    """What the upscale step itself makes of the true patches (RGB in memory, no video in
    between), colour fix and all."""
    from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig

    w, h = size
    img = np.repeat(truth[np.arange(w) * len(truth) // w][None], h, axis=0).astype(np.uint8)
    out_size = (int(w * scale), int(h * scale))
    out = FrameUpscaler(UpscaleConfig(target="none", scale=scale, colour_fix=colour_fix), size, out_size).many([img])[0]
    oh, ow = out.shape[:2]
    return np.array([out[oh // 2, int((i + 0.5) * ow / len(truth))] for i in range(len(truth))], float)


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("case", list(CASES))
def test_every_patch_comes_out_as_it_went_in(case, tmp_path):
    """Within 5/255 of the truth, with an upscale too (the colour fix puts back what the
    model moves: up to 6/255 without it), and within 5/255 of what the model makes of
    the truth (the colour handling adds no more than that)."""
    truth, clip_args, settings = CASES[case]
    values = truth / 255
    if clip_args["matrix"] == "bt2020":  # the same colours, as BT.2020 R'G'B' (linear-light matrix)
        values = np.clip(values**2.4 @ BT709_TO_2020.T, 0, 1) ** (1 / 2.4)
    src = write_clip(tmp_path / f"{case}.mp4", values, frames=2, **clip_args)
    out = run_flow(src, tmp_path, **settings)
    got, tags = decoded_patches(out, len(truth))
    print(case, np.abs(got - truth).max(axis=1).round(1).tolist())
    assert {k: tags[k] for k in BT709_TAGS} == BT709_TAGS
    if "scale" not in settings:
        assert np.abs(got - truth).max() <= TOLERANCE
        return
    expected = model_colours(truth, (len(truth) * 64, clip_args["height"]), settings["scale"])
    print(" vs the model's own", np.abs(got - expected).max(axis=1).round(1).tolist())
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(got - truth).max() <= TOLERANCE


def test_the_colour_fix_puts_back_what_the_model_moves():
    """Without the fix Real-ESRGAN moves the flat patches by more than the tolerance (so
    the test above would fail); with it they are within 1/255, and the frame's detail
    (the model's sharpening, measured as Laplacian energy) is the model's own."""
    import cv2

    w, h = len(PATCHES) * 64, 64
    raw, fixed = (model_colours(PATCHES, (w, h), 2, colour_fix=fix) for fix in (False, True))
    print("raw", np.abs(raw - PATCHES).max(), "fixed", np.abs(fixed - PATCHES).max())
    assert np.abs(raw - PATCHES).max() > TOLERANCE >= 1 >= np.abs(fixed - PATCHES).max()
    from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig

    texture = np.random.default_rng(3).integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    img = cv2.resize(texture, (w, h), interpolation=cv2.INTER_CUBIC)
    energy = [
        cv2.Laplacian(
            cv2.cvtColor(
                FrameUpscaler(UpscaleConfig(target="none", scale=2, colour_fix=fix), (w, h), (2 * w, 2 * h)).many(
                    [img]
                )[0],
                cv2.COLOR_RGB2GRAY,
            ),
            cv2.CV_32F,
        ).var()
        for fix in (False, True)
    ]
    assert abs(energy[1] / energy[0] - 1) < 0.05, energy


def test_a_wrong_matrix_would_be_caught(tmp_path):
    """The check above can fail: BT.601 codes read with the BT.709 formula (what a player
    did with vidpipe's old untagged HD output) are far off; tagged BT.601 decodes right."""
    src = write_clip(tmp_path / "sd601.mp4", PATCHES / 255, height=64, matrix="bt601", frames=1)
    f = next(read_frames(src))
    h, w = f.shape[:2]
    assert np.abs(f[h // 2, [int((i + 0.5) * w / 8) for i in range(8)]].astype(float) - PATCHES).max() <= TOLERANCE
    wrong = rgb_from_ycbcr(ycbcr(PATCHES / 255, "bt601", False, 8), "bt709", False, 8)
    assert np.abs(wrong - PATCHES).max() > 20


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("transfer", [PQ_TRC, HLG_TRC])
def test_hdr_ramps_are_tone_mapped_to_sdr(transfer, tmp_path):
    """Greys at known display luminances (cd/m2), written with ST 2084 / BT.2100 HLG in
    BT.2020 10-bit, come out SDR BT.709: unchanged below the knee ((L / 203)^(1/2.4)),
    reference white (203 cd/m2) at 230 +- 5, highlights monotonic and never clipped
    before the peak; a colour keeps its BT.709 value through the gamut mapping."""
    nits = np.array([0.5, 5, 26, 60, 85, 203, 300, 400, 600, 1000])
    signal = pq_signal if transfer == PQ_TRC else hlg_signal
    greys = np.repeat(signal(nits)[:, None], 3, axis=1)
    colour_709 = np.array([50.0, 20.0, 10.0])  # cd/m2 per BT.709 channel
    colour_2020 = BT709_TO_2020 @ colour_709
    if transfer == PQ_TRC:
        colour = pq_signal(colour_2020)
    else:  # the inverse OOTF: scene luminance Ys = (Yd / Lw)^(1 / 1.2), E = Fd / (Lw Ys^0.2)
        ys = (np.dot([0.2627, 0.6780, 0.0593], colour_2020) / 1000) ** (1 / 1.2)
        scene = colour_2020 / 1000 / ys**0.2
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        colour = np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-9)) + c)
    values = np.vstack([greys, colour])
    src = write_clip(
        tmp_path / "hdr.mp4",
        values,
        height=64,
        matrix="bt2020",
        bits=10,
        primaries="bt2020",
        transfer=transfer,
        frames=2,
    )
    assert probe(src).hdr == ("HDR10 (PQ)" if transfer == PQ_TRC else "HLG")
    out = run_flow(src, tmp_path)
    got, tags = decoded_patches(out, len(values))
    assert {k: tags[k] for k in BT709_TAGS} == BT709_TAGS and tags["pix_fmt"] == "yuv420p"
    grey = got[:-1].mean(axis=1)
    sdr = (nits / tonemap.SDR_WHITE) ** (1 / 2.4) * 255
    print(transfer, grey.round(1).tolist(), got[-1].round(1).tolist())
    below = nits < tonemap.knee()
    assert np.abs(grey[below] - sdr[below]).max() <= 3  # mid-tones untouched
    assert abs(grey[nits == 203][0] - 230) <= 5  # reference white
    assert np.all(np.diff(grey) > 0.5) or np.all(np.diff(grey[:-1]) > 0.5)  # monotonic up to the peak
    assert grey[-2] < 254.5 and grey[-1] >= 250  # 600 cd/m2 not clipped; the peak is white
    expect = (colour_709 / tonemap.SDR_WHITE) ** (1 / 2.4) * 255
    assert np.abs(got[-1] - expect).max() <= TOLERANCE


@pytest.mark.parametrize("transfer", [PQ_TRC, HLG_TRC])
def test_rgb_coded_hdr_is_tone_mapped_like_ycbcr_hdr(transfer, tmp_path):
    """HDR coded as RGB (10-bit GBR HEVC, as some grading exports are) goes through the
    same conversion as Y'CbCr HDR: the same patches decode within 3/255 either way, and
    reference white lands where it does for Y'CbCr (230 +- 5)."""
    signal = pq_signal if transfer == PQ_TRC else hlg_signal
    grey = signal(np.array([26.0, 203.0]))
    values = np.vstack([np.repeat(grey[:, None], 3, axis=1), [[0.55, 0.45, 0.35], [0.3, 0.5, 0.4]]])
    rgb = write_rgb_clip(tmp_path / "rgb.mkv", values, height=64, transfer=transfer)
    yuv = write_clip(
        tmp_path / "yuv.mp4",
        values,
        height=64,
        matrix="bt2020",
        bits=10,
        primaries="bt2020",
        transfer=transfer,
        frames=2,
    )
    assert probe(rgb).hdr == probe(yuv).hdr
    centres = [int((i + 0.5) * 64) for i in range(len(values))]
    a, b = (next(read_frames(p))[32, centres].astype(float) for p in (rgb, yuv))
    print(transfer, a.tolist(), b.tolist())
    assert np.abs(a - b).max() <= 3
    assert abs(a[1].mean() - 230) <= 5


def test_the_tone_curve_itself():
    """The operator alone, on exact values: identity below the knee, monotonic, the
    source peak onto SDR white, nothing above it."""
    nits = np.geomspace(0.01, 1000, 400)
    mapped = tonemap.eetf(nits)
    assert 85 < tonemap.knee() < 92
    below = nits < tonemap.knee()
    assert np.allclose(mapped[below], nits[below], rtol=1e-6) and np.all(mapped[~below] < nits[~below])
    assert np.all(np.diff(mapped) > 0)
    assert abs(mapped[-1] - tonemap.SDR_WHITE) < 0.01 and mapped.max() <= tonemap.SDR_WHITE + 1e-6
    hlg = tonemap.hlg_inverse_oetf(tonemap.hlg_oetf(np.linspace(0, 1, 50)))
    assert np.allclose(hlg, np.linspace(0, 1, 50), atol=1e-9)
    assert abs(tonemap.pq_eotf(tonemap.pq_inverse_eotf(np.array([203.0])))[0] - 203) < 1e-6
    assert abs(pq_signal(203) - 0.5806) < 1e-3  # BT.2408: reference white at 58% PQ
    assert abs(hlg_signal(203) - 0.75) < 0.01  # ... and 75% HLG


def test_alpha_deliveries_are_tagged_carry_their_key_and_decode_to_the_same_colours(tmp_path, clip):
    src = clip(name="alpha-src", width=128, height=64, frames=3)
    info, ts = probe(src), scan_timestamps(src, 0)
    rgba = np.zeros((64, 128, 4), np.uint8)
    rgba[..., :3] = PATCHES[np.arange(128) // 16].astype(np.uint8)
    rgba[..., 3] = 255
    for name, enc in (
        ("a.mov", EncodeConfig("prores_ks", pix_fmt="yuva444p10le", container="mov", alpha=True)),
        ("a.webm", EncodeConfig("libvpx-vp9", crf=4, pix_fmt="yuva420p", container="webm", alpha=True)),
    ):
        out = deliver([rgba] * 3, info, ts, tmp_path / name, enc, tag="vidpipe:0123")
        assert read_tag(out.path) == "vidpipe:0123" and read_source(out.path) == source_id(src), name  # WebM: COMMENT
        with av.open(out.path) as c:
            cc = c.streams.video[0].codec_context
            assert (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range) == (1, 1, 1, 1), name
        back = next(read_frames(out.path, fmt="rgba"))
        centres = back[32, 8::16, :3].astype(float)
        assert np.abs(centres - PATCHES).max() <= TOLERANCE, name
        assert back[..., 3].min() >= 250


def test_probe_prints_the_hdr_verdict(tmp_path):
    from app.cli import app

    grey = np.full((1, 3), 0.5)
    files = {
        "HLG": write_clip(tmp_path / "hlg.mp4", grey, height=64, matrix="bt2020", bits=10, transfer=HLG_TRC, frames=1),
        "HDR10 (PQ)": write_clip(
            tmp_path / "pq.mp4", grey, height=64, matrix="bt2020", bits=10, transfer=PQ_TRC, frames=1
        ),
        "SDR": write_clip(tmp_path / "sdr.mp4", grey, height=64, matrix="bt709", frames=1),
    }
    runner = CliRunner()
    for verdict, path in files.items():
        shown = runner.invoke(app, ["probe", str(path)])
        assert shown.exit_code == 0, shown.output
        assert f"colour     {verdict}:" in shown.output
        data = json.loads(runner.invoke(app, ["probe", "--json", str(path)]).output)
        assert data["hdr"] == verdict
    hlg = probe(files["HLG"])
    assert (hlg.matrix, hlg.primaries, hlg.transfer, hlg.color_range, hlg.bit_depth) == (
        "bt2020nc",
        "bt2020",
        "arib-std-b67",
        "limited",
        10,
    )
    assert "SDR bt709" in hlg.colour.conversion()


def test_dolby_vision_configuration_box_is_read():
    """dvcC of an iPhone-style profile 8.4 stream (HLG base layer), and of profile 5."""

    def box(profile: int, compat: int) -> bytes:
        body = bytes([1, 0, (profile << 1) | 0, (6 << 3) | 0b101, compat << 4]) + bytes(19)
        return (len(body) + 8).to_bytes(4, "big") + b"dvcC" + body

    assert parse_dovi_config(b"hvc1...." + box(8, 4)) == "Dolby Vision profile 8 (base: HLG)"
    assert parse_dovi_config(box(5, 0)) == "Dolby Vision profile 5 (base: none)"
    assert parse_dovi_config(b"nothing here") is None


def test_pq_tone_map_starts_from_the_files_own_peak(tmp_path):
    """A PQ master that says its content peaks at 4000 cd/m2 (MaxCLL) is mapped from 4000:
    1000 and 2000 cd/m2 greys stay apart and below white instead of clipping (as they do
    from the 1000 cd/m2 assumed for a file that says nothing; reference white comes out
    lower, 211 against 231, as BT.2390 makes room), every grey keeps its order, the
    darkest are untouched; with only a mastering display's peak, that is used."""
    nits = np.array([5.0, 26, 203, 1000, 2000, 4000])
    greys = np.repeat(pq_signal(nits)[:, None], 3, axis=1)

    def clip(name, meta):
        return write_clip(
            tmp_path / name,
            greys,
            height=64,
            matrix="bt2020",
            bits=10,
            primaries="bt2020",
            transfer=PQ_TRC,
            frames=1,
            hdr_meta=meta,
        )

    centres = [int((i + 0.5) * 64) for i in range(len(nits))]
    mastering = "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(40000000,50)"
    got = {
        name: next(read_frames(clip(f"{name}.mp4", meta)))[32, centres].mean(axis=1)
        for name, meta in (("none", ""), ("cll", "max-cll=4000,400"), ("mastering", mastering))
    }
    print({k: v.round(1).tolist() for k, v in got.items()})
    assert got["none"][4] >= 254.5 and got["none"][3] >= 250  # from 1000: 1000 and up are white
    for name in ("cll", "mastering"):
        g = got[name]
        assert np.all(np.diff(g) >= 1) and g[3] < 252 and g[4] < 254.5 <= g[5], name  # highlights kept, peak white
        assert abs(g[0] - (5 / tonemap.SDR_WHITE) ** (1 / 2.4) * 255) <= 3  # below every knee: untouched
    assert np.abs(got["cll"] - got["mastering"]).max() <= 1
