import numpy as np
import pytest
import torch

from gclenet.inference.backends import OnnxRuntimeBackend, TorchBackend
from gclenet.inference.export import export_onnx, export_torchscript

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def onnx_file(random_weights):
    before = set(random_weights.parent.iterdir())
    path = export_onnx(random_weights, random_weights.with_suffix(".onnx"))
    assert set(random_weights.parent.iterdir()) - before == {path}  # one self-contained file, nothing left over
    return path


@pytest.mark.parametrize("batch", [1, 7])
def test_onnxruntime_matches_pytorch(random_weights, onnx_file, batch):
    torch_backend = TorchBackend(random_weights, precision="fp32")
    onnx_backend = OnnxRuntimeBackend(random_weights)  # finds the .onnx beside the weights
    assert onnx_backend.info["classes"] == torch_backend.info["classes"]
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
