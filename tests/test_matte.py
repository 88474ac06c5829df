"""matte + composite on real clips (RVM weights from ../shared/weights), state
hand-over across segment boundaries, backgrounds, and alpha outputs."""

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.units import composite, join, matte
from vidpipe.errors import ConfigError
from vidpipe.media.background import check, cover
from vidpipe.media.encode import EncodeConfig
from vidpipe.media.probe import probe, scan_timestamps
from vidpipe.media.reader import read_frames
from vidpipe.media.segments import split
from vidpipe.media.writer import LosslessWriter
from vidpipe.models import rvm_onnx
from vidpipe.steps.composite import CompositeConfig
from vidpipe.steps.export_alpha import ExportAlphaWork, export_alpha
from vidpipe.steps.matte import MatteConfig

GREEN = np.array([0, 255, 0])
# (clip, torso box that is surely person, strip that is surely background), x0, y0, x1, y1 in source pixels
CASES = {
    "liveportrait_s13.mp4": ((300, 300, 440, 600), (0, 0, 60, 400)),
    "sam2_05_default_juggle.mp4": ((680, 180, 760, 290), (0, 0, 300, 720)),
}


@pytest.fixture(scope="module", autouse=True)
def _rvm(weights):
    weights("rvm_mobilenetv3_fp32.onnx")


def _segment_files(info, frames, segs, folder: Path, scale=1.0):
    """Lossless 'upstream' segment files holding the source frames (optionally smaller)."""
    files = []
    for s in segs:
        h, w = frames[0].shape[:2]
        size = (round(w * scale) // 2 * 2, round(h * scale) // 2 * 2)
        with LosslessWriter(folder / f"up{s.index}.nut", *size, fps=info.fps) as wr:
            for f in frames[s.first_frame : s.end_frame]:
                wr.write(cv2.resize(f, size, interpolation=cv2.INTER_AREA) if scale != 1 else f)
        files.append(folder / f"up{s.index}.nut")
    return files


@pytest.mark.parametrize("name", list(CASES))
def test_matte_covers_the_person_and_background_is_replaced(name, media, tmp_path):
    torso, far = CASES[name]
    info = probe(media(name))
    ts = scan_timestamps(info.path, info.video_index)
    seg = split(ts, info.fps, 0.4)[0]
    frames = list(read_frames(info.path, info.video_index, seg))
    up = _segment_files(info, frames, [seg], tmp_path)[0]
    m = matte(info, seg, str(up), MatteConfig(), tmp_path / "matte.nut")
    alphas = [f[..., 3].astype(float) / 255 for f in read_frames(m, fmt="rgba")]
    assert len(alphas) == seg.n_frames
    x0, y0, x1, y1 = torso
    fx0, fy0, fx1, fy1 = far
    person = [a[y0:y1, x0:x1].mean() for a in alphas]
    background = [a[fy0:fy1, fx0:fx1].mean() for a in alphas]
    print(
        f"\n{name}: alpha in the torso box {min(person):.3f}..{max(person):.3f}, in the far strip <= {max(background):.4f}"
    )
    assert min(person) > 0.9, "the matte misses the person"
    assert max(background) < 0.05, "the matte covers background"

    comp = composite(info, seg, str(up), m, CompositeConfig("#00FF00"), tmp_path / "comp.nut")
    out = tmp_path / "final.mp4"
    seg_info = probe(up)  # join the one segment as if it were the whole video
    join([comp], seg_info, scan_timestamps(up, 0), out, EncodeConfig(preset="ultrafast"))
    for frame, a in zip(read_frames(out), alphas):
        far_px = frame[fy0:fy1, fx0:fx1].astype(float)
        clean = a[fy0:fy1, fx0:fx1] < 0.01
        assert np.abs(far_px[clean] - GREEN).mean() < 4, "background not replaced (beyond encoding noise)"


@pytest.mark.slow
def test_segment_boundaries_handover_equals_one_continuous_pass(media, tmp_path):
    info = probe(media("liveportrait_s13.mp4"))
    ts = scan_timestamps(info.path, info.video_index)
    segs = split(ts, info.fps, 1.0)
    frames = list(read_frames(info.path, info.video_index))
    ups = _segment_files(info, frames, segs, tmp_path, scale=0.5)
    net = rvm_onnx.load()
    small = [f for u in ups for f in read_frames(u)]
    ratio = rvm_onnx.auto_ratio(*small[0].shape[:2])
    state, continuous = rvm_onnx.zero_state(), []
    for f in small:
        out, state = net.step(f, state, ratio)
        continuous.append(out[..., 3].astype(float))

    def run(cfg, tag):
        alphas, prev, prev_up = [], None, None
        for s, up in zip(segs, ups):
            p = matte(
                info,
                s,
                str(up),
                cfg,
                tmp_path / f"{tag}{s.index}.nut",
                prev=prev,
                prev_frames=str(prev_up) if prev_up else None,
            )
            alphas += [f[..., 3].astype(float) for f in read_frames(p, fmt="rgba")]
            prev, prev_up = str(p), up
        return [np.abs(a - c).mean() for a, c in zip(alphas, continuous)]

    handover = run(MatteConfig(), "hand")
    warm = run(MatteConfig(handover=False, warmup_frames=12), "warm")
    cold = run(MatteConfig(handover=False, warmup_frames=0), "cold")
    firsts = [s.first_frame for s in segs[1:]]
    print(
        f"\nmean |alpha - continuous| (/255), whole frame: handover max {max(handover):.4f}; "
        f"first frame of each segment: warm-up {[round(warm[i], 3) for i in firsts]}, "
        f"cold {[round(cold[i], 3) for i in firsts]}"
    )
    assert max(handover) < 0.1
    for i in firsts:
        assert warm[i] <= 1.0 and warm[i] <= 0.5 * cold[i] + 1e-9


def _rgba_segments(folder: Path, n=12, w=64, h=48):
    yy, xx = np.mgrid[0:h, 0:w]
    files = []
    with LosslessWriter(folder / "m0.nut", w, h, fps=24, alpha=True) as wr:
        for i in range(n):
            rgba = np.zeros((h, w, 4), np.uint8)
            rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, (xx * 3) % 256, 60
            rgba[..., 3] = np.clip((xx + i * 2 - 10) * 6, 0, 255)
            wr.write(rgba)
    files.append(folder / "m0.nut")
    return files


def _decode_alpha(path: Path) -> list[np.ndarray]:
    if path.is_dir():
        return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED)[..., 3] for p in sorted(path.glob("*.png"))]
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if stream.codec_context.name in ("vp8", "vp9"):  # FFmpeg's own decoders drop alpha
            dec = av.codec.CodecContext.create("libvpx-vp9" if stream.codec_context.name == "vp9" else "libvpx", "r")
            frames = [f for p in c.demux(stream) if p.size for f in dec.decode(p)]
            try:
                frames += list(dec.decode(None))
            except av.error.EOFError:
                pass
        else:
            frames = list(c.decode(stream))
        return [f.to_ndarray(format="rgba")[..., 3] for f in frames]


@pytest.mark.parametrize("fmt,suffix,tolerance", [("prores", ".mov", 1.0), ("webm", ".webm", 3.0), ("png", "", 0.0)])
def test_alpha_outputs_decode_back_with_the_matte(tmp_path, clip, fmt, suffix, tolerance):
    src = clip(width=64, height=48, frames=12, fps=24)
    info = probe(src)
    files = _rgba_segments(tmp_path)
    out = tmp_path / f"person_alpha{suffix}"
    ts = tuple(scan_timestamps(src, 0))
    report = export_alpha(ExportAlphaWork(info, tuple(map(str, files)), ts, str(out), fmt), out)
    assert report.frames == 12
    expected = [f[..., 3].astype(float) for f in read_frames(files[0], fmt="rgba")]
    got = _decode_alpha(out)
    assert len(got) == 12
    err = max(np.abs(g.astype(float) - e).mean() for g, e in zip(got, expected))
    assert err <= tolerance, f"{fmt} alpha differs by {err:.2f}/255"
    if fmt != "png":
        assert len(probe(out).audio) == 1  # audio muxed where the format allows


def test_backgrounds_cover_and_bad_ones_fail_fast(tmp_path, media):
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 50:150] = 255
    covered = cover(img, 50, 100)  # portrait output from a landscape image: crop the centre
    assert covered.shape == (100, 50, 3) and covered.min() == 255
    assert check("#12ab34") == "#12ab34" and check("blur") == "blur"
    assert check(str(media("paddleseg_humanseg_background.jpg"))).startswith("paddleseg_humanseg_background.jpg:")
    (tmp_path / "broken.jpg").write_text("not an image")
    (tmp_path / "empty.mp4").write_bytes(b"")
    for bad, cause in [
        (tmp_path / "missing.png", "file not found"),
        (tmp_path / "broken.jpg", "not an image"),
        (tmp_path / "empty.mp4", "empty file"),
    ]:
        with pytest.raises(ConfigError, match=cause) as e:
            check(str(bad))
        assert bad.name in str(e.value) and "\n" not in str(e.value)


def test_background_video_loops_by_time(media):
    from vidpipe.media.background import Background

    b = Background(str(media("mdn_stream_of_water.webm")), 64, 48)
    first, later = b.at(0.0).copy(), b.at(1.5).copy()
    assert first.shape == (48, 64, 3) and not np.array_equal(first, later)
    length = b._video.length
    assert np.array_equal(b.at(length + 0.0001), first)  # looped back to the start


def test_alpha_output_from_a_low_resolution_matte_takes_colour_from_the_full_frames(tmp_path, clip):
    src = clip(width=64, height=48, frames=12, fps=24)
    info = probe(src)
    mattes = _rgba_segments(tmp_path)
    color = tmp_path / "color.nut"
    with LosslessWriter(color, 128, 96, fps=24) as wr:
        for i in range(12):
            wr.write(np.full((96, 128, 3), 10 * i, np.uint8))
    out = tmp_path / "cut"
    ts = tuple(scan_timestamps(src, 0))
    export_alpha(ExportAlphaWork(info, tuple(map(str, mattes)), ts, str(out), "png", (str(color),)), out)
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 12
    rgba = cv2.imread(str(pngs[5]), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (96, 128, 4) and np.all(rgba[..., :3] == 50)  # colour from the full-size frames
    small = next(read_frames(mattes[0], fmt="rgba"))[..., 3]
    assert (
        np.abs(cv2.resize(small, (128, 96)).astype(int) - cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)[..., 3]).mean()
        < 1
    )


def test_a_rotated_background_video_is_used_upright(media):
    """A phone clip stored landscape with a 270-degree rotation tag is a portrait background, as players show it."""
    from vidpipe.media.background import Background, cover
    from vidpipe.media.still import frame_at

    mov = str(media("fate_iphone4_rotated_audiofirst.mov"))
    assert probe(mov).rotation % 180 == 90
    back = Background(mov, 136, 240)
    try:
        got = back.at(1.0)
    finally:
        back.close()
    upright = frame_at(mov, 1.0)  # decoded by PyAV and turned by the frame's own rotation
    assert upright.shape[0] > upright.shape[1]  # portrait
    assert got.shape == (240, 136, 3)
    assert np.abs(got.astype(int) - cover(upright, 136, 240)).mean() < 4
