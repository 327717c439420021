"""ImageNet initialisation of the ResNet-34 backbone: torchvision's download, or a local file."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

from torch import Tensor, nn

from gclenet.models.weights import read_state_dict

__all__ = ["load_backbone_weights"]

IMAGENET_FILE = "resnet34-b627a593.pth"


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
