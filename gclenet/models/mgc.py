"""MGC: the multi-scale global association module of GCLENet (Sec. 3.3, Eq. 2-5).

Stage 1 splits the channels into ``n`` groups: group 1 gets a 1x1 conv, group i
(i > 1) gets i-1 stacked 3x3 convs, so the receptive fields are 1, 3, 5, 7 for n = 4
(Eq. 2); the outputs are concatenated. Stage 2 is ACMix (:mod:`gclenet.models.acmix`).
Table 7's variants swap stage 1 for one 3x3 conv, or stage 2 for a 3x3 conv.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gclenet.models.acmix import ACMix
from gclenet.models.blocks import ConvNormAct

__all__ = ["MultiScaleConv", "MultiScaleGlobalAssociation"]


class MultiScaleConv(nn.Module):
    """Channel groups with receptive fields 1, 3, 5, ... (stacked conv-BN-ReLU)."""

    def __init__(self, channels: int, groups: int = 4) -> None:
        super().__init__()
        if groups < 1 or channels % groups:
            raise ValueError(f"MGC: {channels} channels do not split into {groups} groups")
        width = channels // groups
        self.groups = groups
        self.branches = nn.ModuleList(
            [ConvNormAct(width, width, 1)]
            + [nn.Sequential(*(ConvNormAct(width, width, 3) for _ in range(i))) for i in range(1, groups)]
        )

    def forward(self, x: Tensor) -> Tensor:
        chunks = x.chunk(self.groups, dim=1)
        return torch.cat([branch(chunk) for branch, chunk in zip(self.branches, chunks)], dim=1)


class MultiScaleGlobalAssociation(nn.Module):
    """Multi-scale convs then a global mixer; its output is added to the stem features.

    Args:
        channels: channels of the stem feature map.
        multiscale: the grouped multi-scale stage (``False``: one 3x3 conv, Table 7 b).
        groups: number of channel groups ``n`` of the multi-scale stage.
        mixer: ``"acmix"`` (the paper) or ``"conv3x3"`` (ACMix removed, Table 7 c).
        num_heads, window, conv_kernel, block_size: ACMix settings.
        zero_init: the module starts by outputting zeros.
    """

    def __init__(
        self,
        channels: int,
        *,
        multiscale: bool = True,
        groups: int = 4,
        mixer: str = "acmix",
        num_heads: int = 4,
        window: int = 7,
        conv_kernel: int = 3,
        block_size: int | None = None,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        self.scales = MultiScaleConv(channels, groups) if multiscale else ConvNormAct(channels, channels, 3)
        if mixer == "acmix":
            self.mixer: nn.Module = ACMix(
                channels, num_heads=num_heads, window=window, conv_kernel=conv_kernel,
                zero_init=zero_init, block_size=block_size,
            )
        elif mixer == "conv3x3":
            self.mixer = ConvNormAct(channels, channels, 3, act=False, zero_init=zero_init)
        else:
            raise ValueError(f"MGC mixer must be 'acmix' or 'conv3x3', got {mixer!r}")

    def forward(self, x: Tensor) -> Tensor:
        return self.mixer(self.scales(x))
