"""The RVM session's IO binding on ONNX Runtime's CPU provider, with tiny ONNX graphs
built here that have RVM's inputs and outputs: fp16 inputs are fed fp16 (read from
the model), the recurrent state stays in the session's own values between frames, and
reaches the host only when asked for."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from vidpipe.models import rvm_onnx

DTYPES = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16}


def _rvm_like(path, dtype) -> str:
    """fgr = src; pha = mean of src over channels; r_o = r_i + 1 (a frame counter);
    downsample_ratio is read (float32, as RVM's) and multiplied into pha by 1."""
    t = DTYPES[dtype]
    inputs = [
        helper.make_tensor_value_info("src", t, [1, 3, "h", "w"]),
        helper.make_tensor_value_info("downsample_ratio", TensorProto.FLOAT, [1]),
    ]
    inputs += [helper.make_tensor_value_info(f"r{i}i", t, ["n", "c", "y", "x"]) for i in range(1, 5)]
    outputs = [
        helper.make_tensor_value_info("fgr", t, [1, 3, "h", "w"]),
        helper.make_tensor_value_info("pha", t, [1, 1, "h", "w"]),
    ]
    outputs += [helper.make_tensor_value_info(f"r{i}o", t, ["n", "c", "y", "x"]) for i in range(1, 5)]
    one = helper.make_tensor("one", t, [], [1.0])
    nodes = [
        helper.make_node("Identity", ["src"], ["fgr"]),
        helper.make_node("ReduceMean", ["src"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Div", ["downsample_ratio", "downsample_ratio"], ["unit"]),
        helper.make_node("Cast", ["unit"], ["unit_t"], to=t),
        helper.make_node("Mul", ["mean", "unit_t"], ["pha"]),
    ]
    nodes += [helper.make_node("Add", [f"r{i}i", "one"], [f"r{i}o"]) for i in range(1, 5)]
    graph = helper.make_graph(nodes, "rvm_like", inputs, outputs, initializer=[one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_inputs_fed_in_the_models_dtype_and_state_kept_in_the_session(tmp_path, dtype):
    net = rvm_onnx.RvmMatter(_rvm_like(tmp_path / "rvm.onnx", dtype), threads=1, providers=["CPUExecutionProvider"])
    assert net.dtype is dtype and net.state_dtype is dtype and net.backend.dtype == np.dtype(dtype).name
    assert net.backend.runtime == "onnxruntime" and net.device == "cpu"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (6, 10, 3), dtype=np.uint8) for _ in range(3)]
    state = net.zero_state()
    assert all(s.dtype == dtype for s in state)
    for frame in frames:
        rgba, state = net.step(frame, state, 0.5)
        assert rgba.shape == (6, 10, 4) and rgba.dtype == np.uint8
        assert np.abs(rgba[..., :3].astype(int) - frame).max() <= (1 if dtype is np.float16 else 0)
        mean = frame.astype(np.float32).mean(axis=2)
        assert np.abs(rgba[..., 3] - mean).max() <= 1.5
    assert not isinstance(state[0], np.ndarray)  # the session's own values, not host arrays
    host = net.to_host(state)
    assert [h.dtype for h in host] == [np.float32] * 4
    assert [float(h.ravel()[0]) for h in host] == [3.0] * 4  # carried through all three frames
    rgba, again = net.step(frames[0], host, 0.5)  # a handed-over host state goes back in
    assert float(net.to_host(again)[0].ravel()[0]) == 4.0


def test_missing_onnxruntime_is_one_clear_line(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    with pytest.raises(rvm_onnx.ModelNotAvailable, match="onnxruntime is not installed; run make install"):
        rvm_onnx.onnxruntime()
    assert rvm_onnx.cuda_provider() is False
