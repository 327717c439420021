"""Exports: weights (safetensors + metadata), ONNX and TorchScript deploy models."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import torch

from gclenet.models import reparameterize_model
from gclenet.fileio import atomic_write_bytes
from gclenet.training.weights import build_model_from_checkpoint

__all__ = ["save_weights", "export_weights", "export_onnx", "export_torchscript", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("safetensors", "onnx", "torchscript")


def save_weights(model: torch.nn.Module, info: dict[str, Any], out: str | Path, *, half: bool = True) -> Path:
    """Write ``model``'s state dict as safetensors with ``info`` (classes, input size,
    normalisation, variant, ...) in the file's ``gclenet`` metadata entry."""
    from safetensors.torch import save

    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous()
               for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    blob = save(tensors, metadata={"gclenet": json.dumps(info)})
    atomic_write_bytes(out, lambda handle: handle.write(blob))
    return Path(out)


def export_weights(checkpoint: str | Path, out: str | Path, *, half: bool = True, **metadata: Any) -> Path:
    """Training-form weights of ``checkpoint`` as safetensors, with everything inference needs.

    The file keeps the training branches (so it can be fine-tuned); loaders fold it.
    ``metadata`` (training data, recipe, measured accuracy...) is stored beside
    classes, input size, normalisation and variant.
    """
    model, info = build_model_from_checkpoint(checkpoint)
    info = {**info, **metadata, "exported": _dt.date.today().isoformat()}
    return save_weights(model, info, out, half=half)


def _deploy_model(weights: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    model, info = build_model_from_checkpoint(weights)
    return reparameterize_model(model, inplace=True).eval(), info


def export_onnx(weights: str | Path, out: str | Path, *, opset: int = 18) -> Path:
    """The deploy model as ONNX, input ``(batch, 3, S, S)`` with a dynamic batch axis."""
    import onnx

    model, info = _deploy_model(weights)
    size = info["input_size"]
    example = torch.zeros(2, 3, size, size)  # not 1: torch.export specialises a batch of 1
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        # One self-contained file: the weights are far below ONNX's 2 GB limit, and torch's
        # default (external_data=True) would leave a weights file beside the temporary one.
        torch.onnx.export(model, (example,), str(tmp), input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=opset, dynamo=True,
                          external_data=False, verbose=False)
        proto = onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(f"{tmp.name}.data").unlink(missing_ok=True)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "gclenet", json.dumps(info)
    atomic_write_bytes(out, lambda handle: handle.write(proto.SerializeToString()))
    return out


def export_torchscript(weights: str | Path, out: str | Path) -> Path:
    """The deploy model traced to TorchScript (metadata in the ``gclenet.json`` extra file)."""
    model, info = _deploy_model(weights)
    size = info["input_size"]
    traced = torch.jit.trace(model, torch.zeros(1, 3, size, size))
    extra = {"gclenet.json": json.dumps(info)}
    atomic_write_bytes(out, lambda handle: torch.jit.save(traced, handle, _extra_files=extra))
    return Path(out)
