"""Decode by segment, the frame loop, and join: frames, timing, rotation, audio."""

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import psnr, remux

from app.units import join, upscale
from vidpipe.errors import ConfigError, MediaError, SyncError
from vidpipe.media.encode import EncodeConfig, deliver, encoder_works, verify
from vidpipe.media.frames import rotate_upright
from vidpipe.media.pipeline import run_frames
from vidpipe.media.probe import probe, scan_timestamps
from vidpipe.media.reader import read_frames
from vidpipe.media.segments import split
from vidpipe.media.writer import LosslessWriter
from vidpipe.steps.upscale import UpscaleConfig

IDENTITY = UpscaleConfig(target="none")  # no model: lossless copy of the segment
FAST = EncodeConfig(preset="ultrafast")


def _hashes(frames):
    return [hashlib.sha1(f.tobytes()).hexdigest() for f in frames]


def _segment_files(info, tmp_path, seconds):
    ts = scan_timestamps(info.path, info.video_index)
    segs = split(ts, info.fps, seconds)
    return [upscale(info, s, IDENTITY, tmp_path / f"{s.name}.nut") for s in segs], ts, segs


@pytest.mark.parametrize("name", ["mdn_friday.mp4", "mdn_flower.webm"])
def test_segments_decode_exactly_their_frames(media, tmp_path, name):
    info = probe(media(name))
    whole = _hashes(read_frames(info.path, info.video_index))
    ts = scan_timestamps(info.path, info.video_index)
    segs = split(ts, info.fps, 1.0)
    assert len(segs) > 3
    pieces = [h for s in segs for h in _hashes(read_frames(info.path, info.video_index, s))]
    assert pieces == whole and len(whole) == info.frame_count


def test_a_ts_whose_seeks_land_mid_picture_decodes_every_segment(clip, tmp_path):
    """One keyframe: a seek into the TS lands where the decoder cannot start and yields nothing."""
    ts = remux(clip(width=96, height=54, frames=48, fps=24), tmp_path / "long_gop.ts")
    info = probe(ts)
    assert info.fps == 24.0 and info.frame_count == 48  # FFmpeg's guess from the first packets is 48
    whole = _hashes(read_frames(ts))
    segs = split(scan_timestamps(ts, info.video_index), info.fps, 0.25)
    pieces = [h for s in segs for h in _hashes(read_frames(ts, info.video_index, s))]
    assert len(segs) == 8 and pieces == whole


@pytest.mark.parametrize("codec", ["magicyuv", "ffv1"])
def test_lossless_intermediate_is_bit_exact(media, tmp_path, monkeypatch, codec):
    monkeypatch.setenv("VIDPIPE_INTERMEDIATE", codec)
    info = probe(media("mdn_friday.mp4"))
    files, _, segs = _segment_files(info, tmp_path, 2.0)
    decoded = [h for f in files for h in _hashes(read_frames(f))]
    assert decoded == _hashes(read_frames(info.path, info.video_index))
    with av.open(str(files[0])) as c:
        assert c.format.name == "nut" and c.streams.video[0].codec_context.name == codec


def test_lossless_rgba_intermediate_and_a_bad_codec_name(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 256, (37, 53, 4), dtype=np.uint8) for _ in range(3)]  # odd sizes, noise
    with LosslessWriter(tmp_path / "a.nut", 53, 37, fps=24, alpha=True) as w:
        for f in frames:
            w.write(f)
    assert _hashes(read_frames(tmp_path / "a.nut", fmt="rgba")) == _hashes(frames)
    monkeypatch.setenv("VIDPIPE_INTERMEDIATE", "png")
    with pytest.raises(ConfigError, match="VIDPIPE_INTERMEDIATE"):
        LosslessWriter(tmp_path / "b.nut", 16, 16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nut"]  # no partial file left


def test_frame_loop_is_ordered_bounded_and_propagates_errors():
    frames = (np.full((4, 4, 3), i, np.uint8) for i in range(50))
    seen = []
    n = run_frames(frames, lambda f: f + 1, lambda f: seen.append(int(f[0, 0, 0])), depth=2)
    assert n == 50 and seen == list(range(1, 51))

    seen.clear()
    sizes = []

    def batched(items):
        sizes.append(len(items))
        return [f + 2 for f in items]

    frames = (np.full((4, 4, 3), i, np.uint8) for i in range(50))
    assert run_frames(frames, batched, lambda f: seen.append(int(f[0, 0, 0])), batch=4) == 50
    assert seen == list(range(2, 52)) and max(sizes) <= 4 and sum(sizes) == 50

    def broken():
        yield np.zeros((2, 2, 3), np.uint8)
        raise MediaError("decoder broke")

    with pytest.raises(MediaError, match="decoder broke"):
        run_frames(broken(), lambda f: f, lambda f: None)
    with pytest.raises(ZeroDivisionError):
        run_frames((np.zeros((2, 2, 3), np.uint8) for _ in range(10)), lambda f: f, lambda f: 1 / 0)


def _check_join(info, out, ts):
    got = probe(out)
    assert got.frame_count == info.frame_count
    assert abs(got.duration - info.duration) <= info.frame_duration
    assert len(got.audio) == len(info.audio)
    return got


def test_join_rotated_phone_clip_comes_out_upright(media, tmp_path):
    info = probe(media("fate_iphone4_rotated_audiofirst.mov"))
    files, ts, _ = _segment_files(info, tmp_path, 1.0)
    out = tmp_path / "out" / "phone_final.mp4"
    join(files, info, ts, out, FAST)
    got = _check_join(info, out, ts)
    assert got.rotation == 0 and (got.width, got.height) == (272, 480)
    src = next(read_frames(info.path, info.video_index))
    dst = next(read_frames(out))
    assert psnr(rotate_upright(src, info.rotation), dst) > 30  # same picture, upright
    assert psnr(np.ascontiguousarray(np.rot90(rotate_upright(src, info.rotation), 2)), dst) < 20
    # audio in sync: the audio stream lasts as long as the video, within one frame
    assert abs(got.audio[0].duration - got.duration) <= 2 * info.frame_duration


def test_join_audio_first_and_vorbis_to_aac(media, tmp_path):
    for name, codec in [("mdn_friday.mp4", "aac"), ("mdn_flower.webm", "aac")]:
        info = probe(media(name))
        files, ts, _ = _segment_files(info, tmp_path / name, 2.0)
        out = tmp_path / f"{name}.mp4"
        join(files, info, ts, out, FAST)
        got = _check_join(info, out, ts)
        assert got.audio[0].codec == codec
        assert abs(got.audio[0].duration - info.duration) <= 0.1


def test_join_keeps_variable_frame_rate_timestamps(clip, tmp_path):
    src = clip(width=64, height=36, frames=24, vfr=True)
    info = probe(src)
    assert info.vfr
    files, ts, _ = _segment_files(info, tmp_path, 0.3)
    out = tmp_path / "vfr.mp4"
    join(files, info, ts, out, FAST)
    got = probe(out)
    assert got.vfr
    src_t = [float(t * Fraction(info.time_base)) for t in ts]
    out_t = [float(t * Fraction(got.time_base)) for t in scan_timestamps(out, got.video_index)]
    assert len(out_t) == len(src_t)
    assert max(abs(a - b) for a, b in zip(src_t, out_t)) < 1e-3


def test_join_refuses_a_short_result_and_leaves_no_file(media, tmp_path):
    info = probe(media("mdn_friday.mp4"))
    files, ts, _ = _segment_files(info, tmp_path, 2.0)
    out = tmp_path / "out" / "short.mp4"
    with pytest.raises(SyncError, match="frames"):
        join(files[:-1], info, ts, out, FAST)  # a segment missing
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_verify_flags_missing_audio(media, tmp_path, clip):
    silent = probe(clip(width=64, height=36, frames=12, audio=False))
    with_audio = probe(clip(width=64, height=36, frames=12, audio=True))
    assert silent.frame_count == with_audio.frame_count
    with pytest.raises(SyncError, match="audio"):
        verify(silent.path, with_audio)


def test_verify_flags_audio_that_drifted(clip):
    from dataclasses import replace

    good = probe(clip(width=64, height=36, frames=24, audio=True))
    verify(good.path, good)  # an output agrees with itself
    a = good.audio[0]
    longer = replace(good, audio=(replace(a, duration=a.duration + 0.2),))  # the source audio 0.2 s longer
    with pytest.raises(SyncError, match="audio stream 0 lasts"):
        verify(good.path, longer)


def test_cpu_and_device_blends_agree_with_the_float_formula():
    import torch

    from vidpipe.media import tensor
    from vidpipe.media.frames import blend

    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    rgba[0, :4, 3] = (0, 255, 1, 254)  # the ends of the alpha range
    back = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    a = rgba[..., 3:4].astype(np.float64) / 255
    truth = np.floor(rgba[..., :3] * a + back * (1 - a) + 0.5)
    cpu = blend(rgba, back)
    assert cpu.dtype == np.uint8 and np.abs(cpu - truth).max() <= 1 and np.mean(cpu != truth) < 0.001
    device = tensor.blend(torch.from_numpy(rgba), torch.from_numpy(back)).numpy()
    assert np.abs(device.astype(int) - cpu).max() <= 1
    assert np.array_equal(cpu[0, 0], rgba[0, 0, :3] * 0 + back[0, 0]) and np.array_equal(cpu[0, 1], rgba[0, 1, :3])


def test_codec_auto_is_libx264_without_nvidia_and_nvenc_by_name_is_one_line():
    from vidpipe.config import JobSpec
    from vidpipe.errors import ConfigError as Bad
    from vidpipe.media import encode
    from vidpipe.steps.join import STEP as join_step

    assert "h264_nvenc" in av.codecs_available and "hevc_nvenc" in av.codecs_available  # PyAV's FFmpeg has them
    nvenc = encode.encoder_works("h264_nvenc")
    assert encode.resolve_codec("auto") == ("h264_nvenc" if nvenc else "libx264")
    assert JobSpec().codec == "auto"
    if not nvenc:  # this machine (and CI): no NVIDIA driver
        assert join_step.configure(JobSpec(), None).codec == "libx264"
        with pytest.raises(Bad, match="--codec hevc_nvenc: NVENC does not work here .* use --codec libx265 or auto"):
            encode.resolve_codec("hevc_nvenc")
    assert encode.resolve_codec("libx265") == "libx265"
    opts = encode.EncodeConfig(codec="h264_nvenc", crf=18, preset="medium").options()
    assert opts["rc"] == "vbr" and opts["cq"] == "19" and opts["preset"] == "p5"


@pytest.mark.skipif(not encoder_works("h264_nvenc"), reason="needs NVENC (an NVIDIA GPU and driver)")
def test_nvenc_at_the_default_quality_matches_x264_crf_18(tmp_path, clip):
    src = clip(width=640, height=360, frames=48)
    info = probe(src)
    ts = scan_timestamps(src, info.video_index)
    frames = list(read_frames(src, info.video_index))
    out = {}
    for codec in ("libx264", "h264_nvenc"):
        d = deliver(iter(frames), info, ts, tmp_path / f"{codec}.mp4", EncodeConfig(codec=codec))
        got = list(read_frames(d.path))
        out[codec] = (d.size_bytes, np.mean([psnr(a, b) for a, b in zip(frames, got)]))
    (x_size, x_psnr), (n_size, n_psnr) = out["libx264"], out["h264_nvenc"]
    print(f"x264 {x_size} B {x_psnr:.1f} dB; nvenc {n_size} B {n_psnr:.1f} dB")
    assert n_psnr > x_psnr - 1.5 and 0.4 < n_size / x_size < 2.5


def _burn(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


@pytest.mark.slow
def test_the_same_frames_encode_to_the_same_bytes_under_load(clip, tmp_path):
    """Resume depends on it: PyAV's default slice threads gave 10 different files in 40 encodes of one clip
    on a loaded machine; frame threads give one."""
    import multiprocessing

    from vidpipe.media.synth import figure_frame

    src = clip(width=192, height=128, frames=48, fps=24)
    info = probe(src)
    ts = scan_timestamps(src, info.video_index)
    frames = [figure_frame(192, 128, i / 24) for i in range(48)]
    stop = multiprocessing.get_context("spawn").Event()
    burners = [multiprocessing.get_context("spawn").Process(target=_burn, args=(stop,)) for _ in range(3)]
    for p in burners:
        p.start()
    try:
        digests = {
            hashlib.sha256(
                Path(deliver(iter(frames), info, ts, tmp_path / f"{i}.mp4", EncodeConfig()).path).read_bytes()
            ).hexdigest()
            for i in range(20)
        }
    finally:
        stop.set()
        for p in burners:
            p.join()
    assert len(digests) == 1
