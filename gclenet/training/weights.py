"""Model weights in and out of training runs: init from checkpoints, export to safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gclenet.models._pretrained import drop_other_head, load_checked, read_state_dict, resolve_weights

__all__ = ["load_init_weights", "read_checkpoint", "model_state_from_checkpoint"]


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint, loaded without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path}: refused or unreadable checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
            "gclenet only loads weights-only checkpoints and safetensors files"
        ) from None


def model_state_from_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(model state dict, metadata)`` of a ``.ckpt``, ``.safetensors``, plain state dict or
    shipped tag (``"default"``, ``"fer2013"``)."""
    path = resolve_weights(path)
    if path.suffix == ".ckpt":
        ckpt = read_checkpoint(path)
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        return state, dict(ckpt.get("hyper_parameters", {}))
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            metadata = dict(handle.metadata() or {})
        return read_state_dict(path), metadata
    return read_state_dict(path), {}


def load_init_weights(model: nn.Module, path: str | Path, classes: list[str] | None = None) -> None:
    """Initialise ``model`` from a checkpoint; a head of another size is left fresh.

    Args:
        path: a run checkpoint, a weights file, or a shipped tag (``"fer2013"``).

    Raises:
        RuntimeError: any other tensor is missing or has another shape (named).
    """
    state, _ = model_state_from_checkpoint(path)
    state, head = drop_other_head(model, state, path)
    load_checked(model, state, path, skip=head)


def build_model_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The trained model of a run checkpoint or weights file, plus what inference needs.

    Returns:
        ``(model in eval mode, info)`` with ``info`` holding ``classes``,
        ``input_size``, ``mean``, ``std``, ``model_name`` and ``model_overrides``.
    """
    import json

    from gclenet.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from gclenet.models import create_model

    state, meta = model_state_from_checkpoint(path)
    if "config" in meta:  # a training checkpoint
        from gclenet.data.registry import get_dataset_spec

        config = meta["config"]
        dataset = config["data"]["dataset"]
        info = {
            "grayscale": dataset != "mix" and get_dataset_spec(dataset).grayscale,
            "classes": list(meta["classes"]),
            "input_size": config["data"]["input_size"],
            "model_name": config["model"]["name"],
            "model_overrides": dict(config["model"].get("overrides") or {}),
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        }
    elif "gclenet" in meta:  # a weights file we exported
        info = json.loads(meta["gclenet"])
    else:
        raise ValueError(f"{path}: no gclenet metadata (classes, input size); pass a run checkpoint or exported weights")
    model = create_model(info["model_name"], num_classes=len(info["classes"]), **info["model_overrides"])
    load_checked(model, state, path)
    return model.eval(), info
