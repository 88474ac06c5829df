"""Model registry and store, the torch (spandrel) backend, backend choice."""

import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest

from conftest import psnr
from vidpipe.errors import ModelNotAvailable, OutOfMemory
from vidpipe.media.frames import chw_float_to_hwc_u8
from vidpipe.media.reader import read_frames
from vidpipe.models import ncnn_sr, registry, store, torch_sr
from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig, resolve_backend
from vidpipe.tiling import tiled_forward


@pytest.fixture(scope="module")
def photo(media):
    frame = next(read_frames(media("liveportrait_s13.mp4")))
    return np.ascontiguousarray(frame[300:420, 280:440])


@pytest.fixture(scope="module")
def torch_net(weights):
    weights("realesr-animevideov3.pth")
    return torch_sr.load(registry.upscale_model("realesr-animevideov3"))


def test_torch_and_ncnn_agree_and_tiles_match_whole(photo, torch_net):
    ncnn_net = ncnn_sr.load(registry.upscale_model("realesr-animevideov3"))
    t_whole = chw_float_to_hwc_u8(torch_net.forward(photo))
    n_whole = chw_float_to_hwc_u8(ncnn_net.forward(photo))
    t_tiled = chw_float_to_hwc_u8(tiled_forward(photo, torch_net.forward, 4, tile=48))
    n_tiled = chw_float_to_hwc_u8(tiled_forward(photo, ncnn_net.forward, 4, tile=48))
    print(f"torch vs ncnn {psnr(t_whole, n_whole):.1f} dB; tiled vs whole: torch {psnr(t_whole, t_tiled):.1f} dB, "
          f"ncnn {psnr(n_whole, n_tiled):.1f} dB")
    assert psnr(t_whole, n_whole) >= 45
    assert psnr(t_whole, t_tiled) >= 45 and psnr(n_whole, n_tiled) >= 45
    assert torch_net.architecture == "RealESRGAN Compact" and torch_net.scale == 4


def test_pth_loads_by_path_alone(weights, tmp_path, photo):
    copy = tmp_path / "my_model.pth"
    shutil.copy(weights("realesr-animevideov3.pth"), copy)
    spec = registry.upscale_model(str(copy))
    assert spec.backends == ("torch",)
    up = FrameUpscaler(UpscaleConfig(model=str(copy), target="none", scale=4), (160, 120), (640, 480))
    assert up.backend == "torch" and up(photo).shape == (480, 640, 3)


def test_corrupt_or_wrong_hash_file_is_rejected_clearly(weights, tmp_path, monkeypatch):
    good = weights("realesr-animevideov3.pth").read_bytes()
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "realesr-animevideov3.pth").write_bytes(good[:-1000] + b"\0" * 1000)  # wrong hash
    monkeypatch.setenv("VIDPIPE_MODELS_DIR", str(folder))
    with pytest.raises(ModelNotAvailable, match="sha256 does not match"):
        store.locate(registry.get("realesr-animevideov3"))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a torch file")
    with pytest.raises(ModelNotAvailable, match="corrupt.pth: cannot load model file"):
        torch_sr.load_descriptor(corrupt)


def test_missing_model_offline_says_where_it_looked_and_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPIPE_MODELS_DIR", str(tmp_path))
    spec = registry.ModelSpec("x", "upscale", 4, "x.pth", "http://127.0.0.1:9/x.pth", "0" * 64)
    with pytest.raises(ModelNotAvailable) as e:
        store.locate(spec)
    msg = str(e.value)
    assert "x.pth" in msg and str(tmp_path) in msg and "vidpipe models download x" in msg


class _Ranged(http.server.SimpleHTTPRequestHandler):
    """Serves one file with HTTP Range support (resume)."""

    def do_GET(self):  # noqa: N802
        data = self.server.payload
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
        self.server.requests.append(start)  # before replying: the client may be done before this thread runs again
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def http_file():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ranged)
    server.payload = np.random.default_rng(3).bytes(3_000_000)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_download_resumes_and_checks_sha256(http_file, tmp_path):
    data = http_file.payload
    url = f"http://127.0.0.1:{http_file.server_address[1]}/m.pth"
    spec = registry.ModelSpec("m", "upscale", 4, "m.pth", url, hashlib.sha256(data).hexdigest(), len(data))
    (tmp_path / "m.pth.part").write_bytes(data[:1_000_000])  # an interrupted download
    path = store.fetch(spec, tmp_path, progress=False)
    assert path.read_bytes() == data and http_file.requests == [1_000_000]
    bad = registry.ModelSpec("b", "upscale", 4, "b.pth", url, "f" * 64, len(data))
    with pytest.raises(ModelNotAvailable, match="wrong sha256; the file was deleted"):
        store.fetch(bad, tmp_path, progress=False)
    assert not (tmp_path / "b.pth").exists() and not (tmp_path / "b.pth.part").exists()


def test_batched_frames_equal_single_frames(photo, torch_net):
    up = FrameUpscaler(UpscaleConfig(target="none", scale=2, backend="torch"), (160, 120), (320, 240))
    frames = [photo, np.ascontiguousarray(photo[::-1]), np.ascontiguousarray(photo[:, ::-1])]
    batched = up.many(frames)
    for single, b in zip(frames, batched):
        assert psnr(up(single), b) > 50


def test_backend_choice_without_a_gpu():
    assert resolve_backend(UpscaleConfig(model="realesr-animevideov3")) == "ncnn"  # CPU: ncnn when it exists
    assert resolve_backend(UpscaleConfig(model="realesr-general-x4v3")) == "torch"  # no ncnn version
    assert resolve_backend(UpscaleConfig(model="realesr-animevideov3", backend="torch")) == "torch"
    with pytest.raises(ModelNotAvailable, match="no ncnn version"):
        resolve_backend(UpscaleConfig(model="RealESRGAN_x2plus", backend="ncnn"))


def test_out_of_memory_halves_the_tile_and_keeps_the_frame(photo):
    up = FrameUpscaler(UpscaleConfig(target="none", scale=2), (160, 120), (320, 240))
    real = up.net.forward
    seen = []

    class Net:  # a backend that runs out of memory above 40x40 input tiles
        scale, device = 4, "cuda"

        def forward(self, hwc):
            seen.append(hwc.shape[:2])
            if max(hwc.shape[:2]) > 40 + 2 * 16:
                raise OutOfMemory("CUDA out of memory")
            return real(hwc)

    up.net, up.tile, up.MIN_TILE = Net(), 0, 16
    out = up(photo)
    assert out.shape == (240, 320, 3) and up.tile == 40  # 160 -> 80 -> 40
    assert psnr(out, FrameUpscaler(UpscaleConfig(target="none", scale=2), (160, 120), (320, 240))(photo)) > 40


@pytest.mark.skipif(not torch_sr.cuda_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_matches_cpu(photo, torch_net):
    gpu = torch_sr.TorchUpscaler(registry.upscale_model("realesr-animevideov3"), device="cuda")
    assert gpu.half
    assert psnr(chw_float_to_hwc_u8(gpu.forward(photo)), chw_float_to_hwc_u8(torch_net.forward(photo))) > 40
