"""Model registry and store, the torch (spandrel) backend, backend choice."""

import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest
from helpers import psnr

from vidpipe.errors import ModelNotAvailable, OutOfMemory
from vidpipe.media.frames import chw_float_to_hwc_u8, resize
from vidpipe.media.reader import read_frames
from vidpipe.models import ncnn_sr, registry, store, torch_sr
from vidpipe.models.backend import Backend, Fit, activation_bytes_per_pixel, fit_for, job_budget_bytes
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
    print(
        f"torch vs ncnn {psnr(t_whole, n_whole):.1f} dB; tiled vs whole: torch {psnr(t_whole, t_tiled):.1f} dB, "
        f"ncnn {psnr(n_whole, n_tiled):.1f} dB"
    )
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

    def do_GET(self):
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
    frames = [photo, np.ascontiguousarray(photo[::-1]), np.ascontiguousarray(photo[:, ::-1])]
    batched = torch_net.upscale(frames, (320, 240))
    for single, b in zip(frames, batched):
        assert psnr(torch_net.upscale([single], (320, 240))[0], b) > 50


def test_torch_path_finished_on_its_device_matches_the_host_path(photo, torch_net):
    """Model, clamp, area shrink and rounding in torch (CPU here, CUDA on a GPU) give
    the frames the host path (float -> uint8 -> OpenCV INTER_AREA) gives."""
    host = chw_float_to_hwc_u8(torch_net.forward(photo))  # 640x480, the model's own size
    assert np.array_equal(torch_net.upscale([photo], (640, 480))[0], host)  # no resize: identical
    for size in ((320, 240), (480, 360), (360, 270), (800, 600)):  # 2x, fractional shrinks, an enlarge
        device = torch_net.upscale([photo], size)[0]
        assert device.shape == (size[1], size[0], 3) and device.dtype == np.uint8
        print(size, f"{psnr(device, resize(host, *size)):.1f} dB")
        assert psnr(device, resize(host, *size)) >= 50
    tiled = torch_net.upscale([photo], (640, 480), tile=48)[0]  # tiles blended on the device
    assert psnr(tiled, host) >= 45
    b = torch_net.backend
    assert (b.runtime, b.device, b.dtype, b.scale, b.tiling) == ("torch", "cpu", "float32", 4, True)
    assert b.vram_bytes(960, 540, 2) > b.vram_bytes(960, 540, 1) > b.weights_bytes > 0


def test_batch_and_tile_fit_this_jobs_share_of_free_memory(monkeypatch):
    monkeypatch.setenv("VIDPIPE_VRAM_BUDGET_MB", "10240")
    monkeypatch.setenv("VIDPIPE_GPU_JOBS", "2")
    compact = Backend(
        "torch", "cuda:0", "float16", 4, bytes_per_pixel=activation_bytes_per_pixel("RealESRGAN Compact", True)
    )
    rrdb = Backend("torch", "cuda:0", "float16", 4, bytes_per_pixel=activation_bytes_per_pixel("ESRGAN", True))
    free = 11 << 30  # an idle 12 GB card
    assert job_budget_bytes(free) == 5 << 30  # seed: 10 GB for 2 jobs
    assert fit_for(compact, 960, 540, free) == Fit(batch=4)  # ~0.5 GB a frame
    fit = fit_for(rrdb, 960, 540, free)  # ~4.4 GB a frame: one at a time, whole
    assert (fit.batch, fit.tile) == (1, 0)
    fit = fit_for(rrdb, 1920, 1080, free)  # does not fit whole: the largest tile that does
    assert fit.batch == 1 and fit.tile % 32 == 0 and 64 <= fit.tile < 1920
    assert rrdb.vram_bytes(fit.tile + 32, fit.tile + 32) <= 5 << 30
    assert fit_for(compact, 960, 540, 700 << 20).batch == 1  # a busy card: what is free wins


def test_out_of_memory_lowers_batch_then_tile_and_they_stay_lowered(photo, torch_net):
    """A simulated GPU that runs out of memory above 2 frames per call, and then above
    48x48 tiles: the controller halves the batch (4 -> 2), then the tile, keeps both
    for the rest of the segment, and returns every frame, in order."""
    calls = []

    class Tight:
        backend = Backend("torch", "cuda:0", "float16", 4, tiling=True)

        def upscale(self, chunk, size, tile, colour_fix=0.0):
            calls.append((len(chunk), tile))
            if len(chunk) > 2 or not 0 < tile <= 48:
                raise OutOfMemory("CUDA out of memory")
            return torch_net.upscale(chunk, size, tile, colour_fix)

    up = FrameUpscaler(UpscaleConfig(target="none", scale=2, backend="torch", colour_fix=False), (160, 120), (320, 240))
    up.net, up.fit = Tight(), Fit(batch=4, min_tile=32)
    frames = [np.ascontiguousarray(np.roll(photo, 7 * i, axis=1)) for i in range(8)]
    out = up.many(frames[:4]) + up.many(frames[4:])
    assert calls[:4] == [(4, 0), (2, 0), (1, 0), (1, 80)]  # batch 4 -> 2 -> 1, then tile 160 -> 80 -> 40
    assert (up.fit.batch, up.fit.tile, up.fit.lowered) == (1, 40, 4)
    assert all(c == (1, 40) for c in calls[5:])  # the rest of the segment never fails again
    assert len(out) == 8
    for frame, got in zip(frames, out):
        assert psnr(got, torch_net.upscale([frame], (320, 240))[0]) > 40
    up.fit = Fit(batch=1, tile=32, min_tile=32)
    with pytest.raises(OutOfMemory):  # nothing left to lower: the error, not a hang
        Tight.upscale = lambda self, chunk, size, tile, fix: (_ for _ in ()).throw(OutOfMemory("CUDA out of memory"))
        up.many(frames[:1])


def test_ncnn_out_of_memory_lowers_the_tile(photo):
    """ncnn reports a failed allocation (Vulkan device memory on a shared GPU) as code
    -100, or as an empty result: that is the tile back-off, not a failed video. A simulated device that cannot
    hold an input over 80 px: the tile halves until tiles fit, stays there, and the
    frames are the real network's tiled output."""
    import ncnn

    real = ncnn_sr.NcnnUpscaler(registry.upscale_model("realesr-animevideov3"), gpu=False)
    inputs, limit = [], {"px": 80}

    class TightExtractor:
        def __init__(self, ex):
            self.ex = ex

        def input(self, name, mat):
            inputs.append((mat.w, mat.h))
            return self.ex.input(name, mat)

        def extract(self, name):
            if max(inputs[-1]) > limit["px"]:  # ncnn's code, or (seen on Vulkan) success with nothing in it
                return (ncnn_sr.NCNN_OUT_OF_MEMORY if len(inputs) % 2 else 0), ncnn.Mat()
            return self.ex.extract(name)

    class TightNet:
        def __init__(self, net):
            self.net = net

        def create_extractor(self):
            return TightExtractor(self.net.create_extractor())

    real._net = TightNet(real._net)
    with pytest.raises(OutOfMemory, match="out of memory for a 160x120 input"):
        real.forward(photo[:120, :160])
    cfg = UpscaleConfig(target="none", scale=2, model="realesr-animevideov3", backend="ncnn", colour_fix=False)
    up = FrameUpscaler(cfg, (160, 120), (320, 240))
    up.net, up.fit = real, Fit(tile=0, min_tile=32)
    frames = [np.ascontiguousarray(np.roll(photo, 7 * i, axis=1)) for i in range(3)]
    out = up.many(frames)
    assert (up.fit.tile, up.fit.lowered) == (40, 2)  # whole -> 80 (with its context, still too big) -> 40
    assert max(max(wh) for wh in inputs[-3:]) <= 80  # the last frame ran in tiles that fit, first time
    reference = ncnn_sr.NcnnUpscaler(registry.upscale_model("realesr-animevideov3"), gpu=False)
    for frame, got in zip(frames, out):
        want = resize(chw_float_to_hwc_u8(tiled_forward(frame, reference.forward, 4, tile=40)), 320, 240)
        assert np.array_equal(got, want)
    up.fit = Fit(tile=32, min_tile=32)
    limit["px"] = 16
    with pytest.raises(OutOfMemory):  # nothing left to lower: the error, not a hang
        up.many(frames[:1])


def test_backend_choice_without_a_gpu():
    assert resolve_backend(UpscaleConfig(model="realesr-animevideov3")) == "ncnn"  # CPU: ncnn when it exists
    assert resolve_backend(UpscaleConfig(model="realesr-general-x4v3")) == "torch"  # no ncnn version
    assert resolve_backend(UpscaleConfig(model="realesr-animevideov3", backend="torch")) == "torch"
    with pytest.raises(ModelNotAvailable, match="no ncnn version"):
        resolve_backend(UpscaleConfig(model="RealESRGAN_x2plus", backend="ncnn"))


@pytest.mark.skipif(not torch_sr.cuda_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_matches_cpu(photo, torch_net):
    gpu = torch_sr.TorchUpscaler(registry.upscale_model("realesr-animevideov3"), device="cuda")
    assert gpu.half and gpu.backend.on_cuda and gpu.backend.dtype == "float16"
    assert psnr(chw_float_to_hwc_u8(gpu.forward(photo)), chw_float_to_hwc_u8(torch_net.forward(photo))) > 40
    frames = [photo, np.ascontiguousarray(photo[::-1])]
    on_gpu, on_cpu = gpu.upscale(frames, (320, 240)), torch_net.upscale(frames, (320, 240))
    for a, b in zip(on_gpu, on_cpu):
        assert a.dtype == np.uint8 and a.shape == (240, 320, 3) and psnr(a, b) > 40
    assert (
        psnr(gpu.upscale(frames, (640, 480), tile=48)[0], gpu.upscale(frames, (640, 480))[0]) > 40
    )  # tiles on the GPU


def test_models_are_let_go_when_the_last_job_in_the_process_ends():
    from vidpipe.models import cache

    built = []
    with cache.hold():
        with cache.hold():  # two jobs at once
            cache.loaded("test", "k", lambda: built.append(1) or "net")
        assert cache.loaded("test", "k", lambda: built.append(1) or "net") == "net" and built == [1]  # still held
    cache.loaded("test", "k", lambda: built.append(1) or "net")
    assert built == [1, 1]  # the last job ended: the next use loads again
