"""Train/eval transforms on uint8 image tensors (torchvision.transforms.v2).

Grayscale images are replicated to 3 channels after augmentation, so one model serves
grayscale (FER2013, CK+) and colour (RAF-DB, AffectNet) data and ImageNet weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms import v2

__all__ = ["AugmentConfig", "build_transform", "IMAGENET_MEAN", "IMAGENET_STD", "to_three_channels"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class AugmentConfig:
    """Training augmentation; every entry can be switched off (0 / false)."""

    crop_scale: tuple[float, float] = (0.8, 1.0)  # RandomResizedCrop area range
    hflip: bool = True
    rotation: float = 10.0  # max degrees
    brightness: float = 0.3  # ColorJitter strengths
    contrast: float = 0.3
    erasing: float = 0.25  # RandomErasing probability (occlusion-like)


def to_three_channels(image: Tensor) -> Tensor:
    return image.expand(3, *image.shape[1:]) if image.shape[0] == 1 else image


def build_transform(
    input_size: int, *, train: bool, augment: AugmentConfig | None = None,
    mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
) -> v2.Compose:
    """uint8 ``(C, H, W)`` -> normalised float ``(3, input_size, input_size)``."""
    steps: list[torch.nn.Module] = []
    aug = augment or AugmentConfig()
    if train:
        if aug.crop_scale and aug.crop_scale[0] < 1.0:
            steps.append(v2.RandomResizedCrop(input_size, scale=tuple(aug.crop_scale), ratio=(0.9, 1.1), antialias=True))
        else:
            steps.append(v2.Resize((input_size, input_size), antialias=True))
        if aug.hflip:
            steps.append(v2.RandomHorizontalFlip())
        if aug.rotation:
            steps.append(v2.RandomRotation(aug.rotation))
        if aug.brightness or aug.contrast:
            steps.append(v2.ColorJitter(brightness=aug.brightness, contrast=aug.contrast))
    else:
        steps.append(v2.Resize((input_size, input_size), antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Lambda(to_three_channels), v2.Normalize(mean, std)]
    if train and aug.erasing:
        steps.append(v2.RandomErasing(p=aug.erasing, scale=(0.02, 0.2), value=0))
    return v2.Compose(steps)
