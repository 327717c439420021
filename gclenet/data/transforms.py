"""The training augmentation, which runs on whole batches of uint8 image tensors.

(The evaluation transform belongs to trained weights: ``WeightsInfo.transforms()`` in
:mod:`gclenet.models.weights`; the training images are resized as it resizes.)
Grayscale images are replicated to 3 channels after augmentation, so one model serves
grayscale (FER2013, CK+) and colour (RAF-DB, AffectNet) data and ImageNet weights.

Training augments a batch at once (:class:`BatchAugment`: one ``affine_grid`` /
``grid_sample`` for scale, shift, rotation and flip, then colour and erasing as tensor
arithmetic). Per image, torchvision's transforms cost a quarter of a 48 px training step
on two CPU cores; per batch they cost about 1 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2

__all__ = ["AugmentConfig", "BatchAugment", "build_train_transform"]


@dataclass
class AugmentConfig:
    """Training augmentation; every entry can be switched off (0 / false)."""

    # Area of the input the output window covers, drawn per image: below 1 zooms in (as
    # RandomResizedCrop), above 1 zooms out, the border filled by reflection (framings looser
    # than the data set's, as a face detector's crops with a margin are).
    crop_scale: tuple[float, float] = (0.8, 1.0)
    translate: float = 0.0  # extra shift of the window, up to this fraction of the side, each axis
    hflip: bool = True
    rotation: float = 10.0  # max degrees
    brightness: float = 0.3  # ColorJitter strengths
    contrast: float = 0.3
    erasing: float = 0.25  # RandomErasing probability (occlusion-like)


def build_train_transform(input_size: int) -> v2.Resize:
    """Training, per image: uint8 ``(C, H, W)`` -> uint8 ``(C, input_size, input_size)``, resized
    as the evaluation transform resizes; :class:`BatchAugment` does the rest on the batch."""
    return v2.Resize((input_size, input_size), antialias=True)


class BatchAugment(torch.nn.Module):
    """Training augmentation of a uint8 batch ``(B, C, H, W)`` -> normalised float ``(B, 3, H, W)``.

    Per image: a random window (``crop_scale`` area, shift, ``rotation``, flip) resampled
    bilinearly with reflected borders, brightness and contrast jitter, then normalisation
    and random erasing (to 0, the mean), as torchvision's transforms with the same settings
    do it one image at a time. Draws come from torch's global generator, which the training
    sampler reseeds every epoch.
    """

    def __init__(self, augment: AugmentConfig | None = None, *, mean: Sequence[float], std: Sequence[float]) -> None:
        """``mean``, ``std``: the normalisation of the weights being trained (their record's)."""
        super().__init__()
        self.cfg = augment or AugmentConfig()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    @staticmethod
    def _uniform(n: int, low: float, high: float, device: torch.device) -> Tensor:
        return torch.rand(n, device=device) * (high - low) + low

    def _windows(self, n: int, device: torch.device) -> Tensor:
        """``(n, 2, 3)`` affine maps from output to input coordinates (``affine_grid``'s theta)."""
        cfg = self.cfg
        low, high = cfg.crop_scale if cfg.crop_scale else (1.0, 1.0)
        side = self._uniform(n, low, high, device).sqrt()  # the window's side, in input sides
        angle = torch.deg2rad(self._uniform(n, -cfg.rotation, cfg.rotation, device))
        flip = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(n, device=device)
        # A window inside the image may sit anywhere in it (RandomResizedCrop); ``translate`` adds to that.
        reach = (1.0 - side).clamp(min=0.0) + 2.0 * cfg.translate
        shift = (torch.rand(n, 2, device=device) * 2.0 - 1.0) * reach[:, None]
        cos, sin = torch.cos(angle) * side, torch.sin(angle) * side
        return torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                            torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)

    def _erase(self, images: Tensor) -> Tensor:
        n, _, height, width = images.shape
        device = images.device
        area = self._uniform(n, 0.02, 0.2, device) * height * width
        ratio = torch.exp(self._uniform(n, math.log(0.3), math.log(3.3), device))
        box_h = (area * ratio).sqrt().round().clamp(1, height)
        box_w = (area / ratio).sqrt().round().clamp(1, width)
        top = (torch.rand(n, device=device) * (height - box_h + 1)).floor()
        left = (torch.rand(n, device=device) * (width - box_w + 1)).floor()
        rows = torch.arange(height, device=device).view(1, -1, 1)
        cols = torch.arange(width, device=device).view(1, 1, -1)
        inside = ((rows >= top.view(-1, 1, 1)) & (rows < (top + box_h).view(-1, 1, 1))
                  & (cols >= left.view(-1, 1, 1)) & (cols < (left + box_w).view(-1, 1, 1)))
        chosen = (torch.rand(n, device=device) < self.cfg.erasing).view(-1, 1, 1)
        return images.masked_fill((inside & chosen)[:, None], 0.0)

    def forward(self, images: Tensor) -> Tensor:
        cfg = self.cfg
        n = images.shape[0]
        x = images.float() / 255.0
        grid = F.affine_grid(self._windows(n, x.device), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if cfg.brightness:
            x = x * self._uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, x.device).view(-1, 1, 1, 1)
        if cfg.contrast:
            x = x.clamp(0.0, 1.0)
            gray = x.mean(dim=(1, 2, 3), keepdim=True) if x.shape[1] == 1 else \
                (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).mean(dim=(1, 2, 3), keepdim=True)
            factor = self._uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, x.device).view(-1, 1, 1, 1)
            x = factor * x + (1 - factor) * gray
        x = x.clamp(0.0, 1.0).expand(-1, 3, -1, -1) if x.shape[1] == 1 else x.clamp(0.0, 1.0)
        x = (x - self.mean) / self.std
        return self._erase(x) if cfg.erasing else x
