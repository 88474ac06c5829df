"""upscale with the real Real-ESRGAN ncnn models: tiling without seams, sizes,
and the upscale-image command."""

import cv2
import numpy as np
import pytest
from helpers import psnr
from typer.testing import CliRunner

from app.cli import app
from vidpipe.media.frames import chw_float_to_hwc_u8
from vidpipe.media.reader import read_frames
from vidpipe.models import ncnn_sr
from vidpipe.models.registry import UPSCALE_MODELS, model_fingerprint, upscale_model
from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig
from vidpipe.tiling import tiled_forward


@pytest.fixture(scope="module")
def photo(media):
    """A 160x120 crop of a real frame (HWC uint8 RGB)."""
    frame = next(read_frames(media("liveportrait_s13.mp4")))
    return np.ascontiguousarray(frame[300:420, 280:440])


def test_tiled_blend_is_exact_for_a_local_operator():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (70, 93, 3), np.uint8)

    def forward(hwc):  # 3x3 blur then x2 nearest: receptive field well inside the pad
        blurred = cv2.blur(hwc.astype(np.float32) / 255, (3, 3), borderType=cv2.BORDER_REFLECT)
        return np.repeat(np.repeat(blurred, 2, 0), 2, 1).transpose(2, 0, 1).copy()

    full = forward(img)
    for tile, pad in [(16, 4), (32, 8), (25, 6)]:
        tiled = tiled_forward(img, forward, 2, tile, pad)
        assert tiled.shape == full.shape
        assert np.abs(tiled - full).max() < 1e-5


def test_ncnn_model_outputs_a_sharper_4x_image(photo):
    net = ncnn_sr.load(upscale_model("realesr-animevideov3"))
    out = chw_float_to_hwc_u8(net.forward(photo))
    assert out.shape == (480, 640, 3)
    # the upscaled image, shrunk back, matches the input closely
    back = cv2.resize(out, (160, 120), interpolation=cv2.INTER_AREA)
    assert psnr(back, photo) > 28


def test_small_tiles_match_the_untiled_model(photo):
    net = ncnn_sr.load(upscale_model("realesr-animevideov3"))
    full = chw_float_to_hwc_u8(net.forward(photo))
    tiled = chw_float_to_hwc_u8(tiled_forward(photo, net.forward, 4, tile=40, pad=16))
    assert psnr(full, tiled) > 40


def test_frame_upscaler_hits_exact_output_size(photo):
    up = FrameUpscaler(UpscaleConfig(target="none", scale=2), (160, 120), (320, 240))
    assert up(photo).shape == (240, 320, 3)
    assert up.net is not None and up.device in ("cpu", "vulkan:0")
    passthrough = FrameUpscaler(UpscaleConfig(target="none"), (160, 120), (160, 120))
    assert passthrough.net is None and np.array_equal(passthrough(photo), photo)


def test_every_packaged_ncnn_model_is_available():
    for spec in UPSCALE_MODELS.values():
        if "ncnn" in spec.backends:
            assert len(model_fingerprint(spec, "ncnn")) == 64


def test_upscale_image_command_small_tiles_have_no_seams(photo, tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    runner = CliRunner()
    for name, tile in [("whole.png", 0), ("tiled.png", 32)]:
        r = runner.invoke(
            app, ["upscale-image", str(src), str(tmp_path / name), "--scale", "4", "--upscale-tile", str(tile)]
        )
        assert r.exit_code == 0, r.output
    whole = cv2.imread(str(tmp_path / "whole.png"))
    tiled = cv2.imread(str(tmp_path / "tiled.png"))
    assert whole.shape == (480, 640, 3)
    assert psnr(whole, tiled) > 40


def test_upscale_image_unknown_model_is_one_line(photo, tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), photo)
    r = CliRunner().invoke(app, ["upscale-image", str(src), str(tmp_path / "o.png"), "--upscale-model", "nope"])
    assert r.exit_code == 1 and "--upscale-model: unknown upscale model 'nope'" in " ".join(r.output.split())
    old = CliRunner().invoke(app, ["upscale-image", str(src), str(tmp_path / "o.png"), "--model", "nope"])
    assert "--model is now --upscale-model" in old.output and "unknown upscale model 'nope'" in old.output


def test_upscale_image_takes_the_upscale_options_of_run_the_colour_fix_included(photo, tmp_path):
    """The raw network, as the official Real-ESRGAN gives it, is one option away."""
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    rgb = cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2RGB)
    got = {}
    for name, extra in [("fixed", []), ("raw", ["--no-upscale-colour-fix"])]:
        r = CliRunner().invoke(
            app,
            [
                "upscale-image",
                str(src),
                str(tmp_path / f"{name}.png"),
                "--target",
                "none",
                "--scale",
                "2",
                "--upscale-backend",
                "ncnn",
                *extra,
            ],
        )
        assert r.exit_code == 0, r.output
        got[name] = cv2.cvtColor(cv2.imread(str(tmp_path / f"{name}.png")), cv2.COLOR_BGR2RGB)
    raw = FrameUpscaler(
        UpscaleConfig(target="none", scale=2, backend="ncnn", colour_fix=False), (160, 120), (320, 240)
    )(rgb)
    assert np.array_equal(got["raw"], raw)
    assert not np.array_equal(got["fixed"], raw)
