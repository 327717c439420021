"""Exports: weights (safetensors with their record), ONNX and TorchScript deploy models."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gclenet.fileio import atomic_write_bytes
from gclenet.models.weights import WeightsInfo, load, weights_bytes

__all__ = ["save_weights", "export_weights", "export_onnx", "export_onnx_graph", "export_torchscript", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("safetensors", "onnx", "torchscript")

if TYPE_CHECKING:  # torch is imported by the exports that run it: the CLI reads EXPORT_FORMATS without it
    import torch


def save_weights(model: torch.nn.Module, info: WeightsInfo, out: str | Path, *, half: bool = True,
                 int8: bool = False) -> Path:
    """Write ``model``'s state dict as safetensors with ``info`` in the file's ``gclenet`` metadata entry
    (``int8``: weight-only int8, per-output-channel scales, half the size of fp16; loaders dequantize)."""
    blob = weights_bytes(model, info, half=half, int8=int8)
    atomic_write_bytes(out, lambda handle: handle.write(blob))
    return Path(out)


def export_weights(checkpoint: str | Path, out: str | Path, *, half: bool = True, int8: bool = False,
                   **metadata: Any) -> Path:
    """Training-form weights of ``checkpoint`` as safetensors, with everything inference needs.

    The file keeps the training branches (so it can be fine-tuned); loaders fold it.
    ``metadata`` (accuracy, data, recipe... or any other key) replaces or joins the
    checkpoint's record; the export date is added as ``exported``. ``int8``: weight-only
    int8 storage (see :func:`gclenet.models.weight_storage.to_int8_storage`), e.g. for weights kept in the
    wheel beside the default ones.
    """
    model, info = load(checkpoint)
    return save_weights(model, info.with_metadata(**metadata, exported=_dt.date.today().isoformat()), out, half=half,
                        int8=int8)


def _onnx_proto(model: torch.nn.Module, input_size: int, out: Path, *, opset: int, optimize: bool | None = None) -> Any:
    """``model`` exported by torch.onnx (dynamic batch axis), loaded back as an ONNX proto
    (``optimize``: torch.onnx's own default where ``None``)."""
    import onnx
    import torch

    example = torch.zeros(2, 3, input_size, input_size)  # not 1: torch.export specialises a batch of 1
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        # One self-contained file: the weights are far below ONNX's 2 GB limit, and torch's
        # default (external_data=True) would leave a weights file beside the temporary one.
        torch.onnx.export(model, (example,), str(tmp), input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=opset, dynamo=True,
                          external_data=False, verbose=False, **({} if optimize is None else {"optimize": optimize}))
        return onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(f"{tmp.name}.data").unlink(missing_ok=True)


def export_onnx(weights: str | Path, out: str | Path, *, opset: int = 18) -> Path:
    """The deploy model as ONNX, input ``(batch, 3, S, S)`` with a dynamic batch axis."""
    model, info = load(weights, reparameterize=True)
    out = Path(out)
    proto = _onnx_proto(model, info.input_size, out, opset=opset)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "gclenet", info.to_json()
    atomic_write_bytes(out, lambda handle: handle.write(proto.SerializeToString()))
    return out


def export_onnx_graph(weights: str | Path, out: str | Path, *, opset: int = 18) -> Path:
    """The weightless fp32 graph of ``weights`` that the torch-free fp32 engine fills at load
    (:mod:`gclenet.inference.onnx_graph`; the shipped ``gclenet/weights/*.graph.onnx`` are made here).

    The training form in eval mode, not the deploy form: its initializers keep the weights
    file's tensor names. Exported without the optimiser (which folds batch norms into new,
    unnamed tensors); ONNX Runtime folds them itself when it loads the filled graph.
    Weights trained again with the same shapes need no new graph; new shipped weights of
    another shape do, e.g. ``export_onnx_graph("ferplus", graph_path_for("ferplus"))``
    (tests/inference/test_onnx_graph.py checks that each shipped graph names its weights' tensors).
    """
    from onnx import TensorProto

    from gclenet.inference.onnx_graph import GRAPH_KEY, MISSING_DATA
    from gclenet.models.weights import resolve_weights

    model, info = load(weights)
    names = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    out = Path(out)
    # Not optimised: the optimiser folds batch norms into new, unnamed tensors the loader cannot fill.
    proto = _onnx_proto(model, info.input_size, out, opset=opset, optimize=False)
    unnamed = [t.name for t in proto.graph.initializer if t.name not in names]
    if unnamed:  # a tensor the loader could not fill: the export folded or renamed it
        raise RuntimeError(f"the exported graph has tensors that are not the weights': {unnamed[:5]}")
    for tensor in proto.graph.initializer:
        if list(tensor.dims):  # 0-d tensors stay inline: ONNX Runtime cannot replace them as external data
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            del tensor.external_data[:]
            entry = tensor.external_data.add()
            entry.key, entry.value = "location", MISSING_DATA
    for node in proto.graph.node:  # the exporter's stack traces: most of the file, of no use at inference
        node.ClearField("doc_string")
        node.ClearField("metadata_props")
    for key, value in (("gclenet", info.to_json()), (GRAPH_KEY, resolve_weights(weights).name)):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write_bytes(out, lambda handle: handle.write(proto.SerializeToString()))
    return out


def export_torchscript(weights: str | Path, out: str | Path) -> Path:
    """The deploy model traced to TorchScript (its record in the ``gclenet.json`` extra file)."""
    import torch

    model, info = load(weights, reparameterize=True)
    traced = torch.jit.trace(model, torch.zeros(1, 3, info.input_size, info.input_size))
    extra = {"gclenet.json": info.to_json()}
    atomic_write_bytes(out, lambda handle: torch.jit.save(traced, handle, _extra_files=extra))
    return Path(out)
