import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import make_int8_model, smooth_faces, weights_info

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _faces(count, seed, size=48):
    return smooth_faces(count, seed, size)


@pytest.fixture(scope="module", params=[48, pytest.param(96, marks=pytest.mark.slow)])
def int8_model(request, tmp_path_factory):
    """The session's int8 model at 48 px, and one at 96 (the network is fully convolutional)."""
    if request.param == 48:
        return request.getfixturevalue("int8_model_48")
    return make_int8_model(tmp_path_factory.mktemp("int8_96"), size=96)


def test_int8_model_is_quantised_and_close_to_fp32(int8_model):
    import onnx

    proto = onnx.load(str(int8_model.int8))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = weights_info(input_size=int8_model.size).transforms().numpy_batch(int8_model.faces[:32])
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                for p in (int8_model.fp32, int8_model.int8)]
    reference, quantized = (s.run(None, {"input": x})[0] for s in sessions)
    assert quantized.shape == (32, 7)
    assert np.corrcoef(reference.ravel(), quantized.ravel())[0, 1] > 0.98
    single = sessions[1].run(None, {"input": x[:1]})[0]  # the batch axis stays dynamic
    np.testing.assert_allclose(single, quantized[:1], atol=1e-4)


def test_int8_metadata_records_how_and_how_well(int8_model):
    from gclenet.inference.autoselect import allowed_candidates
    from gclenet.inference.quantize import INT8_KEY, read_onnx_metadata

    meta = read_onnx_metadata(int8_model.int8)
    assert meta["gclenet"]["input_size"] == int8_model.size
    record = meta[INT8_KEY]
    assert record["format"] == "qdq" and record["per_channel"] and record["calibration_images"] == 32
    validation = record["validation"]
    assert validation["images"] == 40 and validation["accuracy_fp32"] == 1.0  # labelled by fp32 itself
    assert validation["agreement"] == validation["accuracy_int8"] >= 0.75 and validation["data"] == "own"
    assert validation["accuracy_drop_points"] == pytest.approx(100 * (1 - validation["agreement"]), abs=1e-3)
    allowed, excluded = allowed_candidates(bf16_fast=False, onnx_fp32=True, int8_metadata=record)
    assert ("onnx-int8" in allowed) == (validation["accuracy_drop_points"] <= 0.5)


def test_onnxruntime_backend_runs_the_int8_model_beside_the_weights(int8_model):
    from gclenet.inference.backends import create_backend

    engine = create_backend("onnxruntime", int8_model.weights)  # precision auto: the int8 one is there
    assert engine.name == "onnx-int8" and engine.path == int8_model.int8
    fp32 = create_backend("onnxruntime", int8_model.weights, precision="fp32")
    assert fp32.name == "onnx-fp32"
    probs, reference = engine.classify(int8_model.faces[:8]), fp32.classify(int8_model.faces[:8])
    assert probs.shape == (8, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.abs(probs - reference).max() < 0.2


def test_quantize_refuses_unknown_settings_and_foreign_models(int8_model, tmp_path):
    import onnx

    from gclenet.inference.quantize import quantize_onnx

    with pytest.raises(ValueError, match="method must be one of"):
        quantize_onnx(int8_model.fp32, tmp_path / "x.onnx", [], method="kl")
    bare = onnx.load(str(int8_model.fp32))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ValueError, match="no gclenet metadata"):
        quantize_onnx(tmp_path / "bare.onnx", tmp_path / "x.onnx", _faces(4, 0))


def test_calibration_images_are_a_fixed_sample(tmp_path):
    from PIL import Image

    from gclenet.inference.quantize import FaceCalibrationReader, calibration_images

    for label in ("happy", "sad"):
        (tmp_path / label).mkdir()
        for i in range(7):
            Image.fromarray(_faces(1, i)[0]).save(tmp_path / label / f"{i}.png")
    sample = calibration_images(tmp_path, 10, seed=1)
    assert len(sample) == 10 and sample == calibration_images(tmp_path, 10, seed=1) != calibration_images(tmp_path, 10)
    reader = FaceCalibrationReader(sample, weights_info(), batch_size=4)  # 10 faces: batches of 2, all alike
    batches = iter(reader.get_next, None)
    assert [b["input"].shape for b in batches] == [(2, 3, 48, 48)] * 5
    reader.rewind()
    assert reader.get_next()["input"].shape == (2, 3, 48, 48)
    with pytest.raises(FileNotFoundError, match="no images"):
        calibration_images(tmp_path / "empty", 3)


@pytest.mark.slow  # 20 s: a second export and quantisation; the steps are tested above on the session's model
def test_export_int8_command_calibrates_validates_and_records(random_weights, tmp_path):
    """One command from weights and data folders to the int8 file `backend auto` may choose."""
    from PIL import Image

    from gclenet.inference.quantize import INT8_KEY, read_onnx_metadata

    for split, count in (("train", 6), ("test", 4)):
        for label in ("happy", "sad"):
            (tmp_path / "data" / split / label).mkdir(parents=True)
            for i, face in enumerate(_faces(count, hash((split, label)) % 1000)):
                Image.fromarray(face).save(tmp_path / "data" / split / label / f"{i}.png")
    out = tmp_path / "w.int8.onnx"
    result = subprocess.run([sys.executable, "-m", "gclenet", "export", "--weights", str(random_weights), "--format",
                             "onnx", "--int8", "--calibration", str(tmp_path / "data" / "train"), "--validate",
                             "folder", str(tmp_path / "data"), "test", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "folder test: fp32" in result.stderr and "top-1 agreement" in result.stderr
    record = read_onnx_metadata(out)[INT8_KEY]
    assert record["calibration_images"] == 12 and record["validation"]["images"] == 8
    assert record["validation"]["data"] == "folder test"
    refused = subprocess.run([sys.executable, "-m", "gclenet", "export", "--weights", str(random_weights), "--format",
                              "onnx", "--int8", "--out", str(out)], capture_output=True, text=True)
    assert refused.returncode == 2 and "--int8 needs --calibration" in refused.stderr
