"""Model weights in and out of training runs: init from checkpoints, export to safetensors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gclenet.models._pretrained import read_state_dict, resolve_weights

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
    """``(model state dict, metadata)`` of a ``.ckpt``, ``.safetensors`` or plain state dict."""
    path = Path(path)
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


def _load_checked(model: nn.Module, state: dict[str, Tensor], path: str | Path, skip: set[str] = frozenset()) -> None:
    """Load ``state`` or raise one error naming every tensor that does not fit."""
    own = model.state_dict()
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                  for k in state if k in own and own[k].shape != state[k].shape]
    missing = [k for k in own if k not in state and k not in skip and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if mismatched or missing or unexpected:
        parts = [f"{label} {items[:3]}" for label, items in
                 (("shape mismatch", mismatched), ("missing", missing), ("unexpected", unexpected)) if items]
        raise RuntimeError(f"{path}: weights do not fit model {type(model).__name__}: " + "; ".join(parts)
                           + " (trained as another variant? pass the matching model name)")
    model.load_state_dict(state, strict=False)


def load_init_weights(model: nn.Module, path: str | Path, classes: list[str] | None = None) -> None:
    """Initialise ``model`` from a checkpoint; a head of another size is left fresh.

    Args:
        path: a run checkpoint, a weights file, or a shipped tag (``"fer2013"``).

    Raises:
        RuntimeError: any other tensor is missing or has another shape (named).
    """
    path = resolve_weights("fer2013" if str(path) == "default" else path)
    state, _ = model_state_from_checkpoint(path)
    own = model.state_dict()
    head = {k for k in state if k.startswith("fc.") and k in own and own[k].shape != state[k].shape}
    if head:
        warnings.warn(f"{path}: classifier has {state['fc.weight'].shape[0]} classes, the task "
                      f"{own['fc.weight'].shape[0]}; the head starts fresh", stacklevel=2)
    _load_checked(model, {k: v for k, v in state.items() if k not in head}, path, skip=head)


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
    state = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    _load_checked(model, state, path)
    return model.eval(), info
