"""The torch-free fp32 engine: the shipped weightless graphs, filled from the shipped weights
at load, compute what eager PyTorch fp32 computes (the reference ``auto`` falls back to)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gclenet.inference.backends import OnnxRuntimeBackend, TorchBackend, fp32_onnx_path_for
from gclenet.inference.onnx_graph import GRAPH_KEY, MISSING_DATA, graph_path_for, numpy_state
from gclenet.models.weights import SHIPPED_WEIGHTS, read_state_dict, resolve_weights
from tests.conftest import smooth_faces

TOLERANCE = 1e-4


@pytest.mark.parametrize("weights", sorted(SHIPPED_WEIGHTS))
def test_numpy_state_is_the_torch_loaders_state(weights):
    """fp16 widened and the int8 codec of the fer2013 file undone, as torch's loader does."""
    ours, theirs = numpy_state(weights), read_state_dict(resolve_weights(weights))
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key].dtype == np.float32 and ours[key].shape == tuple(value.shape), key
        np.testing.assert_array_equal(ours[key], value.float().numpy(), err_msg=key)


@pytest.mark.parametrize("weights", sorted(SHIPPED_WEIGHTS))
def test_the_filled_graph_equals_torch_fp32(weights):
    onnx_engine, torch_engine = OnnxRuntimeBackend(weights), TorchBackend(weights, precision="fp32")
    assert onnx_engine.path == graph_path_for(weights) == fp32_onnx_path_for(weights)
    assert onnx_engine.name == "onnx-fp32" and onnx_engine.info == torch_engine.info
    rng = np.random.default_rng(1)
    faces = smooth_faces(24, seed=3) + list(rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8))
    batch = onnx_engine.prepare(faces)
    logits = onnx_engine.session.run(None, {onnx_engine.input_name: batch})[0]
    with torch.inference_mode():
        expected = torch_engine.model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(logits, expected, atol=TOLERANCE, rtol=0)
    probs, expected_probs = onnx_engine.classify(faces, tta=True), torch_engine.classify(faces, tta=True)
    np.testing.assert_allclose(probs, expected_probs, atol=TOLERANCE, rtol=0)
    assert (probs.argmax(1) == expected_probs.argmax(1)).all()
    single = onnx_engine.classify(faces[:1])  # batch 1: the dynamic batch axis
    np.testing.assert_allclose(single, torch_engine.classify(faces[:1]), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("weights", sorted(SHIPPED_WEIGHTS))
def test_the_shipped_graphs_hold_names_not_weights(weights):
    onnx = pytest.importorskip("onnx")
    path = graph_path_for(weights)
    assert path.stat().st_size < 1_000_000
    proto = onnx.load(str(path), load_external_data=False)
    assert {t.name for t in proto.graph.initializer} == set(numpy_state(weights))
    for tensor in proto.graph.initializer:
        if tensor.dims:  # the 0-d ones stay inline (and are overridden at load)
            assert tensor.data_location == onnx.TensorProto.EXTERNAL and not tensor.raw_data
            assert {e.key: e.value for e in tensor.external_data}["location"] == MISSING_DATA
    assert {p.key: p.value for p in proto.metadata_props}[GRAPH_KEY] == resolve_weights(weights).name


def test_weights_that_do_not_fit_the_graph_are_refused():
    with pytest.raises(RuntimeError, match="do not fit the graph"):  # 7 classes into the 8-class graph
        OnnxRuntimeBackend("fer2013", onnx_path=graph_path_for("ferplus"))


@pytest.mark.slow
def test_a_graph_exported_from_other_weights_fills_and_agrees(random_weights, tmp_path):
    """export_onnx_graph, as the shipped graphs were made, on weights of a training run's shape."""
    pytest.importorskip("onnx")
    import shutil

    from gclenet.inference.export import export_onnx_graph

    weights = shutil.copy(random_weights, tmp_path / "w.safetensors")
    export_onnx_graph(weights, graph_path_for(weights))
    onnx_engine, torch_engine = OnnxRuntimeBackend(weights), TorchBackend(weights, precision="fp32")
    assert onnx_engine.path == graph_path_for(weights)
    faces = smooth_faces(8, seed=5)
    np.testing.assert_allclose(onnx_engine.classify(faces), torch_engine.classify(faces), atol=TOLERANCE, rtol=0)
