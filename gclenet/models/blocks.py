"""Re-parameterisable convolution blocks shared by the GCLENet modules.

* :class:`ConvNormAct`: conv + BN (+ ReLU); folds into one biased conv.
* :class:`AsymmetricConvBlock`: the ACNet block (Ding et al., ICCV 2019,
  https://arxiv.org/abs/1908.03930): square and 1xk / kx1 branches, each with its own
  BN, summed; folds into one kxk conv (the paper's "LFA at testing time").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gclenet.models._reparam import fuse_conv_bn, pad_kernel_to

__all__ = ["ConvNormAct", "AsymmetricConvBlock", "parse_kernel"]


def parse_kernel(name: str) -> tuple[int, int]:
    """``"1x3"`` -> ``(1, 3)``; raises ``ValueError`` on anything else."""
    try:
        kh, kw = (int(part) for part in name.lower().split("x"))
    except ValueError:
        raise ValueError(f"kernel must look like '3x3' or '1x3', got {name!r}") from None
    if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel sides must be odd and positive, got {name!r}")
    return kh, kw


class ConvNormAct(nn.Module):
    """``act(bn(conv(x)))`` with "same" padding; ``reparameterize()`` folds the BN."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        *,
        groups: int = 1,
        act: bool = True,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.conv = nn.Conv2d(
            in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        if zero_init:
            nn.init.zeros_(self.bn.weight)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()
        self.reparam_conv: nn.Conv2d | None = None

    @property
    def is_reparameterized(self) -> bool:
        return self.reparam_conv is not None

    def fused_weight_bias(self) -> tuple[Tensor, Tensor]:
        """Weight and bias of the single conv equal to ``bn(conv(x))`` in eval mode."""
        if self.reparam_conv is not None:
            return self.reparam_conv.weight.detach(), self.reparam_conv.bias.detach()
        return fuse_conv_bn(self.conv.weight, self.bn)

    def forward(self, x: Tensor) -> Tensor:
        if self.reparam_conv is not None:
            return self.act(self.reparam_conv(x))
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def reparameterize(self) -> None:
        if self.reparam_conv is not None:
            return
        weight, bias = self.fused_weight_bias()
        conv = self.conv
        self.reparam_conv = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size,
            padding=conv.padding, groups=conv.groups, bias=True,
        ).to(weight.device, weight.dtype)
        self.reparam_conv.weight.copy_(weight)
        self.reparam_conv.bias.copy_(bias)
        del self.conv, self.bn


class AsymmetricConvBlock(nn.Module):
    """Parallel conv+BN branches of different kernel shapes, summed (ACNet's ACB).

    Args:
        channels: input and output channels.
        kernels: branch kernels, e.g. ``("3x3", "1x3", "3x1")`` (the module of the
            paper), ``("3x3",)`` (Table 6 a/b) or ``("1x3", "3x1")`` (Table 6 c).
        zero_init: start every branch's BN scale at zero, so the block outputs zeros.
    """

    def __init__(
        self, channels: int, kernels: Sequence[str] = ("3x3", "1x3", "3x1"), *, zero_init: bool = False
    ) -> None:
        super().__init__()
        if not kernels:
            raise ValueError("an asymmetric conv block needs at least one kernel")
        shapes = [parse_kernel(k) for k in kernels]
        if len(set(shapes)) != len(shapes):  # branches are named by shape: a repeat would vanish silently
            raise ValueError(f"kernels {tuple(kernels)} repeat a shape; each branch needs its own")
        self.kernel_size = (max(h for h, _ in shapes), max(w for _, w in shapes))
        self.branches = nn.ModuleDict(
            {
                f"conv{h}x{w}": ConvNormAct(channels, channels, (h, w), act=False, zero_init=zero_init)
                for h, w in shapes
            }
        )
        self.reparam_conv: nn.Conv2d | None = None

    @property
    def is_reparameterized(self) -> bool:
        return self.reparam_conv is not None

    def forward(self, x: Tensor) -> Tensor:
        if self.reparam_conv is not None:
            return self.reparam_conv(x)
        branches = iter(self.branches.values())
        out = next(branches)(x)
        for branch in branches:
            out = out + branch(x)
        return out

    @torch.no_grad()
    def reparameterize(self) -> None:
        if self.reparam_conv is not None:
            return
        weight = bias = None
        for branch in self.branches.values():
            w, b = branch.fused_weight_bias()
            w = pad_kernel_to(w, self.kernel_size)
            weight = w if weight is None else weight + w
            bias = b if bias is None else bias + b
        channels = weight.shape[0]
        kh, kw = self.kernel_size
        self.reparam_conv = nn.Conv2d(
            channels, channels, self.kernel_size, padding=(kh // 2, kw // 2), bias=True
        ).to(weight.device, weight.dtype)
        self.reparam_conv.weight.copy_(weight)
        self.reparam_conv.bias.copy_(bias)
        del self.branches
