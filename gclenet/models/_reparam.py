"""Structural re-parameterisation: one BN-folding helper and the model-level switch.

Blocks that can be folded for inference implement ``reparameterize()``: it must be
idempotent, fold every batch norm through :func:`fuse_conv_bn`, and leave the block
computing the same function in eval mode.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["fuse_conv_bn", "pad_kernel_to", "reparameterize_model", "is_reparameterized"]


@torch.no_grad()
def fuse_conv_bn(
    weight: Tensor, bn: nn.BatchNorm2d, bias: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Fold an eval-mode batch norm that follows a convolution into its weight and bias.

    Args:
        weight: convolution weight ``(out, in/groups, kh, kw)``.
        bn: the batch norm applied to the convolution's output.
        bias: the convolution's own bias, if any.

    Returns:
        ``(weight, bias)`` of a single convolution equal to ``bn(conv(x))`` in eval mode.
    """
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    if bias is not None:
        shift = shift + bias * scale
    return weight * scale.reshape(-1, 1, 1, 1), shift


def pad_kernel_to(weight: Tensor, kernel_size: tuple[int, int]) -> Tensor:
    """Zero-pad a ``(out, in, kh, kw)`` kernel symmetrically to ``kernel_size``.

    A centred smaller kernel with matching "same" padding computes the same output as
    the padded larger one, which is what lets 1x3 and 3x1 branches fold into a 3x3.
    """
    kh, kw = weight.shape[-2:]
    th, tw = kernel_size
    if (th - kh) % 2 or (tw - kw) % 2 or th < kh or tw < kw:
        raise ValueError(f"cannot centre a {kh}x{kw} kernel in {th}x{tw}")
    pad_h, pad_w = (th - kh) // 2, (tw - kw) // 2
    return nn.functional.pad(weight, (pad_w, pad_w, pad_h, pad_h))


def reparameterize_model(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Return the deploy form of ``model``: every re-parameterisable block folded.

    Args:
        model: a model whose blocks may define ``reparameterize()``.
        inplace: fold ``model`` itself instead of a deep copy.

    Returns:
        The folded model, in eval mode. Calling this again on it changes nothing.
    """
    if not inplace:
        model = copy.deepcopy(model)
    # Collect first: reparameterize() deletes submodules while we would be iterating.
    blocks = [m for m in model.modules() if callable(getattr(m, "reparameterize", None))]
    for block in blocks:
        block.reparameterize()
    return model.eval()


def is_reparameterized(model: nn.Module) -> bool:
    """True when no block of ``model`` still holds training-time branches."""
    return all(
        getattr(m, "is_reparameterized", True)
        for m in model.modules()
        if callable(getattr(m, "reparameterize", None))
    )
