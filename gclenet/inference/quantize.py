"""int8 deploy model: ONNX Runtime static quantization of the exported fp32 ONNX model.

    from gclenet.inference.quantize import export_int8_onnx
    export_int8_onnx("default", "gclenet_int8.onnx", calibration="data/fer2013/train",
                     validation=read_split("fer2013", "data/fer2013", "test"))

or ``gclenet export --format onnx --int8 --calibration DIR --validate DATASET ROOT SPLIT``.
Calibration runs a few hundred *training* faces through the fp32 model, prepared
exactly as the Recognizer prepares faces (the weights' ``EvalTransform``), to fix each
activation's int8 range. The validation result (fp32 and int8 accuracy, top-1
agreement) is written into the int8 file's ONNX metadata (key ``gclenet_int8``), so that
``backend="auto"`` reads whether int8 is accurate enough instead of measuring it on
every start. Making the file needs ``onnx`` (export tooling); running it needs only
ONNX Runtime.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from gclenet.inference.autoselect import TOLERANCE_POINTS
from gclenet.inference.backends import INT8_KEY
from gclenet.models.weights import WeightsInfo

__all__ = ["FaceCalibrationReader", "calibration_images", "quantize_onnx", "export_int8_onnx", "evaluate_onnx",
           "compare_onnx", "read_onnx_metadata", "INT8_KEY", "TOLERANCE_POINTS"]
# Nodes left in fp32 by default: none. On FER2013 PublicTest with the shipped weights,
# keeping the first convolution, the attention (MatMuls, Softmax) or the network's tail
# (last residual block, pooling, classifier) in fp32 did not raise the top-1 agreement
# beyond the spread between calibration samples (docs/BENCHMARKS.md, "Engines": how the
# int8 model was made).
DEFAULT_EXCLUDE: tuple[str, ...] = ()

Face = Union[str, Path, np.ndarray]  # a face crop: an image file or an RGB/gray uint8 array


def _load(face: Face) -> np.ndarray:
    if isinstance(face, np.ndarray):
        return face
    from gclenet.data.image_io import load_image

    return np.asarray(load_image(face, "RGB"))


def calibration_images(folder: str | Path, count: int = 300, *, seed: int = 0) -> list[Path]:
    """A fixed random sample of ``count`` images under ``folder`` (recursively), e.g. a
    training split's class folders: every class is drawn in proportion to its size."""
    from gclenet.data.folders import list_images

    found = list_images(Path(folder))
    if not found:
        raise FileNotFoundError(f"{folder}: no images to calibrate on")
    return sorted(random.Random(seed).sample(found, min(count, len(found))))


def _even_batch_size(count: int, batch_size: int) -> int:
    """The largest batch size <= ``batch_size`` that divides ``count``: ONNX Runtime's
    histogram calibrators (entropy, percentile) fail on a short last batch."""
    return next(b for b in range(min(batch_size, max(count, 1)), 0, -1) if count % b == 0)


def _batches(faces: Sequence[Face], info: WeightsInfo, batch_size: int) -> Iterator[np.ndarray]:
    transform = info.transforms()
    for start in range(0, len(faces), batch_size):
        yield transform.numpy_batch([_load(f) for f in faces[start : start + batch_size]])


def _calibration_reader_base() -> type:
    from onnxruntime.quantization import CalibrationDataReader

    return CalibrationDataReader


class FaceCalibrationReader(_calibration_reader_base()):  # type: ignore[misc]
    """Feeds face crops to ONNX Runtime's calibrator, in batches, with the Recognizer's
    preprocessing (the weights' ``EvalTransform``).

    Args:
        faces: image files or uint8 arrays of already-cropped faces.
        info: the weights' record (input size, normalisation, grayscale).
        input_name: the ONNX model's input.
        batch_size: faces per calibration batch.
    """

    def __init__(self, faces: Sequence[Face], info: WeightsInfo, *, input_name: str = "input",
                 batch_size: int = 32) -> None:
        self.faces, self.info, self.input_name = list(faces), info, input_name
        self.batch_size = _even_batch_size(len(self.faces), batch_size)
        self._iter: Iterator[np.ndarray] | None = None

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iter is None:
            self._iter = _batches(self.faces, self.info, self.batch_size)
        batch = next(self._iter, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:
        self._iter = None


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """``{key: decoded JSON}`` of an ONNX file's metadata (``gclenet``, ``gclenet_int8``),
    read without loading the weights into a session."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: json.loads(p.value) for p in proto.metadata_props if p.key.startswith("gclenet")}


def _set_metadata(proto: Any, key: str, value: dict[str, Any]) -> None:
    for entry in proto.metadata_props:
        if entry.key == key:
            entry.value = json.dumps(value)
            return
    entry = proto.metadata_props.add()
    entry.key, entry.value = key, json.dumps(value)


def quantize_onnx(fp32: str | Path, out: str | Path, calibration: Sequence[Face], *,
                  quant_format: str = "qdq", per_channel: bool = True, method: str = "percentile",
                  exclude: Sequence[str] | None = None, op_types: Sequence[str] | None = None,
                  activation: str = "uint8", weight: str = "int8", reduce_range: bool = True,
                  batch_size: int = 32, extra_options: dict[str, Any] | None = None) -> Path:
    """Quantise an fp32 deploy model (``export_onnx``'s output) to int8 with calibration.

    Args:
        fp32: the fp32 ONNX model; its ``gclenet`` metadata gives the preprocessing.
        out: the int8 model, written atomically, with the ``gclenet`` metadata copied and a
            ``gclenet_int8`` record of how it was made.
        calibration: training faces (files or arrays), a few hundred.
        quant_format: ``"qdq"`` (QuantizeLinear/DequantizeLinear pairs, which ONNX
            Runtime fuses into int8 kernels) or ``"qoperator"`` (QLinearConv...).
        per_channel: one weight scale per output channel (BN-folded convolutions have
            very different ranges per channel; per-tensor scales lose the small ones).
        method: calibration: ``"percentile"`` (99.999th, the default), ``"minmax"`` or
            ``"entropy"``. Percentile clips the rare extreme activations that stretch a
            min-max range: on 3,000 held-out FER+ training faces the shipped weights' int8
            model agreed with fp32 on 97.5 % (percentile) against 96.8 % (min-max);
            entropy fails on this network (a histogram over an activation range that is not finite).
        exclude: ONNX node names kept in fp32 (default: :data:`DEFAULT_EXCLUDE`).
        op_types: only these ONNX operator types are quantised (default: all ONNX Runtime can).
        activation: ``"uint8"`` (the x86 U8S8 fast path) or ``"int8"``.
        weight: ``"int8"`` (U8S8 with uint8 activations) or ``"uint8"`` (U8U8).
        reduce_range: 7-bit weights. x86 CPUs without VNNI (AVX2, AVX-512F) multiply
            uint8 by int8 with ``vpmaddubsw``, which adds pairs of products into int16 and
            saturates with 8-bit weights: the same file lost 6.6 points of FER+ Valid
            accuracy on an AVX2-only CPU that it kept on one with VNNI. With 7-bit weights no
            pair can saturate, so the integer arithmetic is exact, and the same, on every
            x86 and ARM kernel (ONNX Runtime's quantization notes recommend it for non-VNNI
            x86). On by default: accuracy that holds only where the file was made is no accuracy.
        extra_options: passed to ``quantize_static`` (e.g. ``{"CalibMovingAverage": True}``).

    Raises:
        ValueError: unknown format, method or activation type; fp32 model without metadata.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    formats = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    for name, value, valid in (("quant_format", quant_format, formats), ("method", method, methods),
                               ("activation", activation, types), ("weight", weight, types)):
        if value not in valid:
            raise ValueError(f"{name} must be one of {', '.join(valid)}, got {value!r}")
    meta = read_onnx_metadata(fp32)
    if "gclenet" not in meta:
        raise ValueError(f"{fp32}: no gclenet metadata; pass a model written by gclenet's export_onnx")
    info = WeightsInfo.from_dict(meta["gclenet"])
    exclude = list(DEFAULT_EXCLUDE if exclude is None else exclude)
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        # ONNX Runtime's recommended preparation: shape inference (so every tensor can get
        # a scale) and graph optimisation (folds constants that would otherwise be quantised).
        quant_pre_process(str(fp32), str(prepared))
        input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
        reader = FaceCalibrationReader(calibration, info, input_name=input_name, batch_size=batch_size)
        quantize_static(str(prepared), str(quantized), reader, quant_format=formats[quant_format],
                        per_channel=per_channel, activation_type=types[activation], weight_type=types[weight],
                        reduce_range=reduce_range,
                        calibrate_method=methods[method], nodes_to_exclude=exclude or None,
                        op_types_to_quantize=list(op_types) if op_types else None,
                        extra_options=dict(extra_options or {}))
        proto = onnx.load(str(quantized))
    _set_metadata(proto, "gclenet", info.to_dict())
    _set_metadata(proto, INT8_KEY, {
        "format": quant_format, "per_channel": per_channel, "calibration_method": method,
        "activation_type": activation, "weight_type": weight,
        "reduce_range": reduce_range, "calibration_images": len(calibration), "excluded_nodes": exclude,
        "op_types": list(op_types) if op_types else "all",
        "extra_options": dict(extra_options or {}),
        "created": _dt.date.today().isoformat(),
    })
    from gclenet.fileio import atomic_write_bytes

    atomic_write_bytes(out, lambda handle: handle.write(proto.SerializeToString()))
    return out


def evaluate_onnx(path: str | Path, faces: Sequence[Face], *, batch_size: int = 64,
                  threads: int | None = None) -> np.ndarray:
    """Top-1 class index of each face under the ONNX model at ``path`` (threads: see
    :func:`~gclenet.inference.backends.ort_threads`)."""
    from gclenet.inference.backends import OnnxRuntimeBackend

    engine = OnnxRuntimeBackend(path, onnx_path=path, threads=threads)
    return np.concatenate([engine.probabilities(batch).argmax(1) for batch in _batches(faces, engine.info, batch_size)]
                          or [np.zeros(0, dtype=np.int64)])


def compare_onnx(fp32: str | Path, int8: str | Path, faces: Sequence[Face], labels: Sequence[int], *,
                 threads: int | None = None) -> dict[str, Any]:
    """Accuracy of both models and how often their top-1 agrees, on labelled faces."""
    if len(faces) != len(labels) or not faces:
        raise ValueError(f"need as many labels as faces, and some faces ({len(faces)} faces, {len(labels)} labels)")
    truth = np.asarray(labels)
    reference, quantized = (evaluate_onnx(p, faces, threads=threads) for p in (fp32, int8))
    accuracy_fp32, accuracy_int8 = float((reference == truth).mean()), float((quantized == truth).mean())
    return {"images": len(faces), "accuracy_fp32": accuracy_fp32, "accuracy_int8": accuracy_int8,
            "agreement": float((reference == quantized).mean()),
            "accuracy_drop_points": round(100 * (accuracy_fp32 - accuracy_int8), 4)}


def export_int8_onnx(weights: str | Path, out: str | Path, *, calibration: str | Path | Sequence[Face],
                     validation: Sequence[Any] | None = None, validation_name: str | None = None, count: int = 300,
                     seed: int = 0, fp32: str | Path | None = None, threads: int | None = None,
                     **options: Any) -> Path:
    """Weights -> int8 ONNX in one call: export fp32, calibrate, quantise, validate.

    Args:
        weights: ``"default"``, a shipped tag or a weights file (as ``export_onnx`` takes).
        out: the int8 ``.onnx`` to write.
        calibration: a folder of training faces (``count`` are drawn with ``seed``) or the
            faces themselves.
        validation: labelled faces (``Sample``s of ``read_split``, with ``.source`` and
            ``.label``) to measure fp32 against int8 on; the result goes into the file's
            ``gclenet_int8`` metadata as ``validation`` (``validation_name`` says which data).
        fp32: ``export_onnx``'s model of ``weights``, where it exists already (else exported).
        threads: ONNX Runtime threads for the validation (default: ``OMP_NUM_THREADS``, else one per core).
        options: passed to :func:`quantize_onnx` (format, per-channel, method, exclude...).
    """
    import onnx

    from gclenet.inference.export import export_onnx

    faces = (calibration_images(calibration, count, seed=seed) if isinstance(calibration, (str, Path))
             else list(calibration))
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(fp32) if fp32 else export_onnx(weights, Path(tmp) / "fp32.onnx")
        quantize_onnx(fp32, out, faces, **options)
        if validation:
            record = compare_onnx(fp32, out, [s.source for s in validation], [s.label for s in validation],
                                  threads=threads)
            record.update(data=validation_name, tolerance_points=TOLERANCE_POINTS, date=_dt.date.today().isoformat())
            proto = onnx.load(str(out))
            meta = read_onnx_metadata(out)[INT8_KEY]
            _set_metadata(proto, INT8_KEY, {**meta, "validation": record})
            from gclenet.fileio import atomic_write_bytes

            atomic_write_bytes(out, lambda handle: handle.write(proto.SerializeToString()))
    return out
