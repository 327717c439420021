import numpy as np
import pytest
import torch

from gclenet.inference.backends import OnnxRuntimeBackend, TorchBackend
from gclenet.inference.export import export_torchscript

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def exported(int8_model_48):
    """The session's random weights and their ONNX export (conftest's make_int8_model: one
    export serves these tests and the int8 ones)."""
    assert int8_model_48.fp32 == int8_model_48.weights.with_suffix(".onnx")
    # one self-contained file per model, nothing left over (torch's default writes a .data file beside it)
    assert {p.name for p in int8_model_48.weights.parent.iterdir()} == {"w.safetensors", "w.onnx", "w.int8.onnx"}
    return int8_model_48.weights


@pytest.mark.parametrize("batch", [1, 7])
def test_onnxruntime_matches_pytorch(exported, batch):
    torch_backend = TorchBackend(exported, precision="fp32")
    onnx_backend = OnnxRuntimeBackend(exported)  # finds the .onnx beside the weights
    assert onnx_backend.info.classes == torch_backend.info.classes
    x = torch.randn(batch, 3, 48, 48)
    np.testing.assert_allclose(onnx_backend.probabilities(x), torch_backend.probabilities(x), atol=1e-3)


def test_torchscript_matches(random_weights, tmp_path):
    path = export_torchscript(random_weights, tmp_path / "model.pt")
    scripted = torch.jit.load(str(path))
    x = torch.randn(2, 3, 48, 48)
    expected = TorchBackend(random_weights, precision="fp32").probabilities(x)
    np.testing.assert_allclose(scripted(x).softmax(1).detach().numpy(), expected, atol=1e-4)


def test_missing_onnx_file_says_how_to_make_it(random_weights, tmp_path):
    with pytest.raises(FileNotFoundError, match="gclenet export --format onnx"):
        OnnxRuntimeBackend(random_weights, onnx_path=tmp_path / "none.onnx")
