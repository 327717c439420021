"""Model weights in and out of training runs: init from checkpoints, export to safetensors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gclenet.models._pretrained import (
    drop_other_head,
    load_checked,
    read_state_dict,
    resolve_weights,
    unreadable_safetensors,
)

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

        try:
            with safe_open(str(path), "pt") as handle:
                metadata = dict(handle.metadata() or {})
        except Exception as err:  # SafetensorError
            raise unreadable_safetensors(path, err) from None
        return read_state_dict(path), metadata
    return read_state_dict(path), {}


def load_init_weights(model: nn.Module, path: str | Path, classes: list[str] | None = None) -> None:
    """Initialise ``model`` from a checkpoint; a head for other classes is left fresh.

    Args:
        path: a run checkpoint, a weights file, or a shipped tag (``"fer2013"``).
        classes: the model's class list. The head is kept when the checkpoint's classes
            are the same, re-ordered by name when they are the same in another order, and
            left fresh (with a warning) when they differ, also in number.

    Raises:
        RuntimeError: any other tensor is missing or has another shape (named).
    """
    state, meta = model_state_from_checkpoint(path)
    trained_for = _classes_of(meta)
    other_classes: set[str] = set()
    if classes and trained_for and list(trained_for) != list(classes) and "fc.weight" in state:
        if sorted(trained_for) == sorted(classes):
            rows = [list(trained_for).index(name) for name in classes]
            state = {**state, "fc.weight": state["fc.weight"][rows], "fc.bias": state["fc.bias"][rows]}
        else:
            warnings.warn(f"{path}: trained for {list(trained_for)}, the model is for {list(classes)}; "
                          "the head starts fresh", stacklevel=2)
            other_classes = {k for k in state if k.startswith("fc.")}
            state = {k: v for k, v in state.items() if k not in other_classes}
    state, other_size = drop_other_head(model, state, path)
    load_checked(model, state, path, skip=other_classes | other_size)


def _classes_of(meta: dict[str, Any]) -> list[str] | None:
    """The class list a checkpoint (hyper-parameters) or exported weights (metadata) was trained for."""
    if "classes" in meta:
        return list(meta["classes"])
    if "gclenet" in meta:
        import json

        return json.loads(meta["gclenet"]).get("classes")
    return None


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
