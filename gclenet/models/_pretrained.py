"""Weights for models: the ImageNet backbone (online or a local file) and our trained weights."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import Tensor, nn

__all__ = ["SHIPPED_WEIGHTS", "drop_other_head", "load_backbone_weights", "load_checked", "read_state_dict",
           "read_weights_info", "resolve_weights", "shipped_weights_path"]

IMAGENET_FILE = "resnet34-b627a593.pth"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
# tag -> file in gclenet/weights; each is trained by us (see its metadata and docs/BENCHMARKS.md)
SHIPPED_WEIGHTS = {"fer2013": "gclenet_fer2013.safetensors"}
DEFAULT_WEIGHTS = "fer2013"  # what "default" means


def shipped_weights_path(tag: str = DEFAULT_WEIGHTS) -> Path:
    """The file of the weights shipped under ``tag`` (no network involved)."""
    if tag not in SHIPPED_WEIGHTS:
        raise KeyError(f"unknown weights {tag!r}; shipped: {', '.join(SHIPPED_WEIGHTS)}, or pass a file path")
    path = WEIGHTS_DIR / SHIPPED_WEIGHTS[tag]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shipped weights missing from this installation; "
                                "reinstall gclenet or pass weights=PATH (a .safetensors from `gclenet export`)")
    return path


def resolve_weights(weights: str | Path) -> Path:
    """The file behind ``"default"``, a shipped tag or a path; a name that is none of them is explained."""
    tag = DEFAULT_WEIGHTS if str(weights) == "default" else str(weights)
    if tag in SHIPPED_WEIGHTS:
        return shipped_weights_path(tag)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{weights}: neither shipped weights ({', '.join(SHIPPED_WEIGHTS)}) nor a file")
    return path


def read_weights_info(path: str | Path) -> dict[str, Any]:
    """The ``gclenet`` metadata of an exported ``.safetensors`` (classes, input size, variant...)."""
    from safetensors import safe_open

    if Path(path).suffix != ".safetensors":
        raise ValueError(f"{path}: not an exported weights file; turn a run checkpoint into one with "
                         "`gclenet export --format safetensors`")
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    if "gclenet" not in metadata:
        raise ValueError(f"{path}: no gclenet metadata; pass a file written by `gclenet export --format safetensors`")
    return json.loads(metadata["gclenet"])


def drop_other_head(model: nn.Module, state: dict[str, Tensor], source: str | Path) -> tuple[dict[str, Tensor], set[str]]:
    """``state`` without a classifier of another size than ``model``'s (fine-tuning on
    another class list: that head starts fresh, with a warning), and the dropped keys."""
    own = model.state_dict()
    head = {k for k in state if k.startswith("fc.") and k in own and own[k].shape != state[k].shape}
    if head:
        warnings.warn(f"{source}: classifier has {state['fc.weight'].shape[0]} classes, the model "
                      f"{own['fc.weight'].shape[0]}; the head starts fresh", stacklevel=3)
    return {k: v for k, v in state.items() if k not in head}, head


def load_checked(model: nn.Module, state: dict[str, Tensor], source: str | Path, skip: set[str] = frozenset()) -> None:
    """Load ``state`` (any float dtype) or raise one error naming every tensor that does not fit."""
    own = model.state_dict()
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                  for k in state if k in own and own[k].shape != state[k].shape]
    missing = [k for k in own if k not in state and k not in skip and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if mismatched or missing or unexpected:
        parts = [f"{label} {items[:3]}" for label, items in
                 (("shape mismatch", mismatched), ("missing", missing), ("unexpected", unexpected)) if items]
        raise RuntimeError(f"{source}: weights do not fit model {type(model).__name__}: " + "; ".join(parts)
                           + " (trained as another variant? pass the matching model name)")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)


def unreadable_safetensors(path: Path, err: Exception) -> ValueError:
    return ValueError(f"{path}: not a readable safetensors file ({str(err).splitlines()[0][:200]}); "
                      "re-export it (gclenet export --format safetensors) or download it again")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a ``.safetensors`` file or a ``torch.save``d state dict, never unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # SafetensorError: truncated, not safetensors at all, ...
            raise unreadable_safetensors(path, err) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, zip errors, ...
        raise ValueError(
            f"{path}: not a loadable weights file ({type(err).__name__}); "
            "pass a safetensors file or a plain torch state dict"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a dict of tensors (a state dict)")
    return state


def _imagenet_state_dict() -> dict[str, Tensor]:
    from torchvision.models import ResNet34_Weights

    try:
        return ResNet34_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except (URLError, OSError, RuntimeError) as err:
        raise RuntimeError(
            f"could not download torchvision's ResNet-34 ImageNet weights ({err}); "
            f"offline, fetch {IMAGENET_FILE} on a connected machine and pass "
            "backbone_weights='/path/to/resnet34-b627a593.pth' (in a training config: model.backbone_weights=PATH)"
        ) from None


def load_backbone_weights(model: nn.Module, weights: str | Path, new_modules: tuple[str, ...]) -> None:
    """Load torchvision ResNet-34 weights into ``model``'s backbone.

    Args:
        model: a model whose backbone uses torchvision's parameter names.
        weights: ``"imagenet"`` (torchvision download, or its cache) or a local file.
        new_modules: prefixes of modules the backbone file cannot contain (LFA, MGC).

    Raises:
        RuntimeError: offline without a cached download, or the file does not fit.
    """
    state = _imagenet_state_dict() if str(weights) == "imagenet" else read_state_dict(weights)
    own = model.state_dict()
    head = {k for k in state if k.startswith("fc.")}
    if any(k in own and own[k].shape != state[k].shape for k in head):
        state = {k: v for k, v in state.items() if k not in head}  # other class count: keep our head
    mismatched = [k for k in state if k in own and own[k].shape != state[k].shape]
    if mismatched:
        raise RuntimeError(f"{weights}: shapes differ from ResNet-34 for {', '.join(mismatched[:5])}")
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(new_modules + ("fc.",))]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"{weights}: not a torchvision ResNet-34 state dict "
            f"(missing {missing[:5]}, unexpected {result.unexpected_keys[:5]})"
        )
