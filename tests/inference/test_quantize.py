from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gclenet.data.dataset import Sample
from gclenet.inference.preprocess import preprocess_faces
from gclenet.inference.recognizer import Recognizer
from tests.conftest import weights_info

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _faces(count, seed, size=48):
    """Smooth random 'faces' (blurred noise, various sizes): activations like an image's, not white noise's."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        side = size + 8 * (i % 3)
        noise = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
        out.append(np.asarray(noise.filter(ImageFilter.GaussianBlur(2))))
    return out


@pytest.mark.parametrize("grayscale", [True, False])
def test_preprocess_is_the_recognizers(grayscale):
    info = weights_info(grayscale=grayscale, input_size=40)
    crops = [*_faces(3, 0), np.random.default_rng(1).integers(0, 256, (30, 50, 3), dtype=np.uint8)]
    expected = Recognizer._preprocess(SimpleNamespace(info=info), crops)  # the method, without a model
    got = preprocess_faces(crops, info)
    assert got.shape == (4, 3, 40, 40) and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected.numpy())


@pytest.fixture(scope="module", params=[48, pytest.param(96, marks=pytest.mark.slow)])
def int8_model(request, tmp_path_factory):
    """Random weights (non-zero branches) at input ``size``, exported to int8 with a
    validation on faces labelled by the fp32 model itself."""
    from gclenet.inference.export import export_onnx, save_weights
    from gclenet.inference.quantize import evaluate_onnx, export_int8_onnx
    from gclenet.models import create_model

    size = request.param
    folder = tmp_path_factory.mktemp(f"int8_{size}")
    torch.manual_seed(0)
    weights = save_weights(create_model("gclenet", zero_init_branches=False).eval(),
                           weights_info(input_size=size), folder / "w.safetensors", half=False)
    fp32 = export_onnx(weights, folder / "fp32.onnx")
    faces = _faces(40, 2, size)
    labels = evaluate_onnx(fp32, faces)
    int8 = export_int8_onnx(weights, folder / "int8.onnx", calibration=_faces(32, 3, size),
                            validation=[Sample(f, int(y)) for f, y in zip(faces, labels)], fp32=fp32)
    return SimpleNamespace(size=size, fp32=fp32, int8=int8, faces=faces)


def test_int8_model_is_quantised_and_close_to_fp32(int8_model):
    import onnx

    proto = onnx.load(str(int8_model.int8))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = preprocess_faces(int8_model.faces[:32], weights_info(input_size=int8_model.size))
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
    assert validation["agreement"] == validation["accuracy_int8"] >= 0.75
    assert validation["accuracy_drop_points"] == pytest.approx(100 * (1 - validation["agreement"]), abs=1e-3)
    allowed, excluded = allowed_candidates(bf16_fast=False, onnxruntime=True, int8_metadata=meta)
    assert ("onnx-int8" in allowed) == (validation["accuracy_drop_points"] <= 0.5)


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
