"""The deploy model straight from a weights file, without building and folding the
training form on every start.

Today's start (``TorchBackend``) builds the training-form model (every BN and branch,
randomly initialised first), loads the weights and folds them. Here the folded state
dict is computed once per weights file and cached as safetensors
(``<cache>/deploy/<digest>.safetensors``, fp32, keyed by the weights file's digest);
later starts build the architecture on PyTorch's ``meta`` device (shapes only: no
memory, no random initialisation), fold it there (free: no data), and assign the
cached tensors into it.

    model, info = load_deploy_model("default")      # eval mode, folded, channels-last ready
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["load_deploy_model", "deploy_weights_path", "write_deploy_weights"]


def deploy_weights_path(weights: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Where the folded weights of ``weights`` are cached (the file may not exist yet)."""
    from gclenet.inference.autoselect import cache_path, model_id
    from gclenet.models._pretrained import resolve_weights

    root = Path(cache_dir) if cache_dir else cache_path().parent
    return root / "deploy" / f"{model_id(resolve_weights(weights))}.safetensors"


def write_deploy_weights(weights: str | Path, out: str | Path) -> Path:
    """Fold ``weights`` once (the slow, exact path of today) and save the deploy state dict
    in fp32 with the weights' metadata."""
    from safetensors.torch import save

    from gclenet.fileio import atomic_write_bytes
    from gclenet.models import reparameterize_model
    from gclenet.training.weights import build_model_from_checkpoint

    model, info = build_model_from_checkpoint(weights)
    model = reparameterize_model(model, inplace=True)
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"gclenet": json.dumps(info), "gclenet_deploy": "1"})
    atomic_write_bytes(out, lambda handle: handle.write(blob))
    return Path(out)


def _skeleton(info: dict[str, Any]) -> nn.Module:
    """The folded architecture of ``info``'s variant, with meta (data-less) tensors."""
    from gclenet.models import create_model, reparameterize_model

    with torch.device("meta"):
        model = create_model(info["model_name"], num_classes=len(info["classes"]), **info["model_overrides"])
        return reparameterize_model(model, inplace=True)


def load_deploy_model(weights: str | Path = "default", *, cache_dir: str | Path | None = None,
                      cache: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """``(folded model in eval mode, info)`` of ``weights``, as ``TorchBackend`` builds it.

    Args:
        weights: ``"default"``, a shipped tag, a run checkpoint or an exported weights file.
        cache_dir: where folded weights are cached (default: gclenet's cache folder).
        cache: use (and fill) the cache; ``False`` folds in memory every time.

    Raises:
        RuntimeError: the cached file does not fit the architecture (then delete it).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = deploy_weights_path(weights, cache_dir)
    if not cache or not path.is_file():
        if not cache:
            from gclenet.models import reparameterize_model
            from gclenet.training.weights import build_model_from_checkpoint

            model, info = build_model_from_checkpoint(weights)
            return reparameterize_model(model, inplace=True), info
        path.parent.mkdir(parents=True, exist_ok=True)
        write_deploy_weights(weights, path)
    with safe_open(str(path), "pt") as handle:
        info = json.loads(handle.metadata()["gclenet"])
    model = _skeleton(info)
    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise RuntimeError(f"{path}: cached deploy weights do not fit {info['model_name']} "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]}); delete the file")
    return model.eval(), info
