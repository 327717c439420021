"""LFA: the local feature enhancement module of GCLENet (Sec. 3.2, Eq. 1, Fig. 3).

The stem feature map is cut into 2x2 non-overlapping quadrants; each quadrant has its
own two stacked asymmetric conv blocks (zero padding at the quadrant borders keeps the
features local); the quadrants are re-joined in place. Odd sides are split with the
extra row/column in the bottom/right quadrants. At test time every asymmetric block
folds into one 3x3 conv with bias (Fig. 3b).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gclenet.models.blocks import AsymmetricConvBlock

__all__ = ["LocalFeatureEnhancement"]


class LocalFeatureEnhancement(nn.Module):
    """Two asymmetric conv blocks per region, over a 2x2 split (or the whole map).

    Args:
        channels: channels of the stem feature map.
        split: cut the map into 2x2 quadrants (the paper); ``False`` is Table 6 (a).
        kernels: branch kernels of each asymmetric block (see
            :class:`~gclenet.models.blocks.AsymmetricConvBlock`).
        zero_init: zero the last block's BN scales so the module starts as ``L = 0``.
    """

    def __init__(
        self,
        channels: int,
        *,
        split: bool = True,
        kernels: Sequence[str] = ("3x3", "1x3", "3x1"),
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        self.split = split
        self.regions = nn.ModuleList(
            nn.Sequential(
                AsymmetricConvBlock(channels, kernels),
                nn.ReLU(inplace=True),
                AsymmetricConvBlock(channels, kernels, zero_init=zero_init),
            )
            for _ in range(4 if split else 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        if not self.split:
            return self.regions[0](x)
        height, width = x.shape[-2:]
        if height < 2 or width < 2:
            raise ValueError(
                f"LFA splits the stem output into 2x2 quadrants but it is {height}x{width}; "
                "use an input of at least 8x8 pixels"
            )
        h, w = height // 2, width // 2
        top_left, top_right, bottom_left, bottom_right = self.regions
        top = (top_left(x[:, :, :h, :w]), top_right(x[:, :, :h, w:]))
        bottom = (bottom_left(x[:, :, h:, :w]), bottom_right(x[:, :, h:, w:]))
        return torch.cat([torch.cat(top, dim=3), torch.cat(bottom, dim=3)], dim=2)
