"""The deploy model straight from a weights file, without building and folding the
training form on every start.

Building the training form (every BN and branch, randomly initialised first), loading
the weights and folding them costs about a second on a laptop CPU. Here the folded state
dict is computed once per weights file and cached as fp32 safetensors
(``<cache>/deploy/<file id>.safetensors``, :mod:`gclenet.inference.cache`); later starts
build the folded architecture on PyTorch's ``meta`` device (shapes only: no memory, no
random initialisation) and assign the cached tensors into it. The outputs are those of
``gclenet.models.load(weights, reparameterize=True)``, bit for bit.

    model, info = load_deploy_model("default")      # eval mode, folded
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from gclenet.inference.cache import cache_dir, file_id
from gclenet.models.weights import WeightsInfo, resolve_weights

__all__ = ["load_deploy_model", "deploy_weights_path", "write_deploy_weights"]

log = logging.getLogger(__name__)


def deploy_weights_path(weights: str | Path, cache: str | Path | None = None) -> Path:
    """Where the folded weights of ``weights`` are cached (the file may not exist yet)."""
    return Path(cache or cache_dir()) / "deploy" / f"{file_id(resolve_weights(weights))}.safetensors"


def write_deploy_weights(weights: str | Path, out: str | Path) -> tuple[nn.Module, WeightsInfo]:
    """Fold ``weights`` (the exact, slow path), save the deploy state dict in fp32 with the
    weights' record, and return the folded model."""
    from safetensors.torch import save

    from gclenet.fileio import atomic_write_bytes
    from gclenet.models import load

    model, info = load(weights, reparameterize=True)
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"gclenet": info.to_json(), "gclenet_deploy": "1"})
    atomic_write_bytes(out, lambda handle: handle.write(blob))
    return model, info


def _skeleton(info: WeightsInfo) -> nn.Module:
    """The folded architecture of ``info``'s variant, with meta (data-less) tensors."""
    from gclenet.models import create_model, reparameterize_model

    with torch.device("meta"):
        model = create_model(info.model_name, num_classes=info.num_classes, **info.model_overrides)
        return reparameterize_model(model, inplace=True)


def _from_cache(path: Path) -> tuple[nn.Module, WeightsInfo]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "np") as handle:
        info = WeightsInfo.from_json(handle.metadata()["gclenet"])
    model = _skeleton(info)
    missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False, assign=True)
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if missing or unexpected or left:
        raise RuntimeError(f"{path}: cached deploy weights do not fit {info.model_name} "
                           f"(missing {(missing or left)[:3]}, unexpected {unexpected[:3]})")
    return model.eval(), info


def load_deploy_model(weights: str | Path = "default", *, cache: str | Path | None = None,
                      use_cache: bool = True) -> tuple[nn.Module, WeightsInfo]:
    """``(folded model in eval mode, record)`` of ``weights``, as ``load(weights, reparameterize=True)``.

    Args:
        weights: ``"default"``, a shipped name, a run checkpoint or an exported weights file.
        cache: the cache folder (default: :func:`~gclenet.inference.cache.cache_dir`).
        use_cache: read (and fill) the cache; ``False`` folds in memory.

    A cache file that cannot be read or does not fit is folded and written again; where
    the cache cannot be written (a read-only home), the model is folded in memory.
    """
    if not use_cache:
        from gclenet.models import load

        return load(weights, reparameterize=True)
    path = deploy_weights_path(weights, cache)
    if path.is_file():
        try:
            return _from_cache(path)
        except Exception as err:  # truncated by a crash, another library version...: fold again
            log.warning("%s: unusable cached deploy weights (%s); folding %s again", path, err, weights)
    try:
        return write_deploy_weights(weights, path)
    except OSError as err:
        log.warning("cannot cache the deploy weights in %s (%s); folding in memory", path.parent, err)
        from gclenet.models import load

        return load(weights, reparameterize=True)
