"""One interface for every classifier engine, and one typed candidate."""

import numpy as np
import pytest

from gclenet.inference.backends import Candidate, ClassifierEngine, create_backend


@pytest.mark.parametrize("name", ["torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8"])
def test_candidates_round_trip(name):
    candidate = Candidate.parse(name)
    assert candidate.name == name and candidate.engine in ("torch", "onnx")


@pytest.mark.parametrize("name", ["onnx-bf16", "torch-int8", "tensorrt-fp16", "torch"])
def test_a_candidate_gclenet_does_not_run_is_refused(name):
    with pytest.raises(ValueError, match="valid: torch-fp32"):
        Candidate.parse(name)


def test_every_engine_is_a_classifier_engine(random_weights, tmp_path):
    pytest.importorskip("onnxruntime")
    from gclenet.inference.export import export_onnx

    onnx = export_onnx(random_weights, tmp_path / "m.onnx")
    engines = [create_backend("torch", random_weights, precision="fp32"),
               create_backend("onnxruntime", random_weights, onnx_path=onnx),
               create_backend("auto", random_weights, precision="fp32")]
    faces = [np.random.default_rng(i).integers(0, 255, (48, 48, 3), dtype=np.uint8) for i in range(3)]
    reference = engines[0].classify(faces)
    for engine in engines:
        assert isinstance(engine, ClassifierEngine), type(engine)
        assert engine.info.classes == engines[0].info.classes
        np.testing.assert_allclose(engine.classify(faces), reference, atol=1e-4)
    assert engines[0].torch_model() is engines[0].model
    with pytest.raises(ValueError, match="no PyTorch model"):
        engines[1].torch_model()
    assert engines[2].torch_model() is not None  # auto builds the PyTorch one when asked
