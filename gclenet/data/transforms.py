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
    # Faces unlike the data set's (other cameras, poses and light than FER2013's webcam crops);
    # all off by default, so a config that does not name them trains as before.
    aspect: float = 0.0  # width/height stretch, log-uniform within 1/(1+a) .. 1+a (other crops, lenses)
    perspective: float = 0.0  # out-of-plane turn: projective terms up to this (0.3 is a strong yaw/pitch)
    blur: float = 0.0  # probability of a Gaussian blur, sigma up to blur_sigma pixels (focus, motion, upscaling)
    blur_sigma: float = 1.2
    noise: float = 0.0  # Gaussian noise, std drawn up to this (in 0-1 intensity) per image (sensor noise)
    gamma: float = 0.0  # gamma drawn log-uniform within 1/(1+g) .. 1+g (exposure, displays)
    jpeg: float = 0.0  # probability of a JPEG round trip at quality drawn in jpeg_quality (compressed uploads)
    jpeg_quality: tuple[int, int] = (30, 90)


def build_train_transform(input_size: int) -> v2.Resize:
    """Training, per image: uint8 ``(C, H, W)`` -> uint8 ``(C, input_size, input_size)``, resized
    as the evaluation transform resizes; :class:`BatchAugment` does the rest on the batch."""
    return v2.Resize((input_size, input_size), antialias=True)


class BatchAugment(torch.nn.Module):
    """Training augmentation of a uint8 batch ``(B, C, H, W)`` -> normalised float ``(B, 3, H, W)``.

    Per image: a random window (``crop_scale`` area, shift, ``rotation``, flip, and where on,
    ``aspect`` stretch and ``perspective`` turn) resampled bilinearly with reflected borders,
    brightness and contrast jitter, then normalisation and random erasing (to 0, the mean), as
    torchvision's transforms with the same settings do it one image at a time; where on, a JPEG
    round trip first, blur and gamma after the resampling, noise after the colour jitter. Draws
    come from torch's global generator, which the training sampler reseeds every epoch.
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
        # A stretch keeps the window's area: its width and height change by the same factor, inversely.
        stretch = (torch.exp(self._uniform(n, -math.log1p(cfg.aspect), math.log1p(cfg.aspect), device)).sqrt()
                   if cfg.aspect else torch.ones(n, device=device))
        cos, sin = torch.cos(angle) * side, torch.sin(angle) * side
        return torch.stack([torch.stack([cos * flip * stretch, -sin / stretch, shift[:, 0]], 1),
                            torch.stack([sin * flip * stretch, cos / stretch, shift[:, 1]], 1)], 1)

    def _grid(self, theta: Tensor, shape: list[int]) -> Tensor:
        """The sampling grid of the windows ``theta``, turned out of the image plane by a random
        projective term when ``perspective`` is on (a face seen a little from the side or below)."""
        if not self.cfg.perspective:
            return F.affine_grid(theta, shape, align_corners=False)
        n = shape[0]
        base = F.affine_grid(torch.eye(2, 3, device=theta.device).expand(n, 2, 3), shape, align_corners=False)
        tilt = self._uniform(2 * n, -self.cfg.perspective, self.cfg.perspective, theta.device).view(n, 1, 1, 2)
        # Output point p maps to theta @ (p / (1 + tilt . p)): straight lines stay straight, and the
        # side the face turns away from shrinks, as under a homography.
        projected = base / (1.0 + (base * tilt).sum(-1, keepdim=True)).clamp(min=0.2)
        homogeneous = torch.cat([projected, torch.ones_like(projected[..., :1])], -1)
        return torch.einsum("nhwk,nck->nhwc", homogeneous, theta)

    def _jpeg(self, images: Tensor) -> Tensor:
        """JPEG round trips of the chosen uint8 images, each at its own quality."""
        import io

        import numpy as np
        from PIL import Image

        def round_trip(image: Tensor, quality: int) -> Tensor:
            array = image.permute(1, 2, 0).cpu().numpy()
            buffer = io.BytesIO()
            Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buffer, "JPEG", quality=quality)
            decoded = np.asarray(Image.open(buffer)).reshape(array.shape)
            return torch.from_numpy(decoded.copy()).permute(2, 0, 1).to(image.device)

        chosen = (torch.rand(images.shape[0]) < self.cfg.jpeg).nonzero().flatten().tolist()
        if not chosen:
            return images
        low, high = self.cfg.jpeg_quality
        qualities = torch.randint(low, high + 1, (len(chosen),)).tolist()
        out = images.clone()
        for index, quality in zip(chosen, qualities):
            out[index] = round_trip(images[index], quality)
        return out

    def _blur(self, x: Tensor) -> Tensor:
        """A Gaussian blur of the chosen images, each with its own sigma (one grouped convolution)."""
        n, channels, _, _ = x.shape
        sigma = self._uniform(n, 0.3, self.cfg.blur_sigma, x.device)
        chosen = torch.rand(n, device=x.device) < self.cfg.blur
        radius = max(1, math.ceil(2 * self.cfg.blur_sigma))
        taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (taps[None] / sigma[:, None]) ** 2)
        kernel = kernel / kernel.sum(1, keepdim=True)
        identity = (taps == 0).to(x.dtype).expand(n, -1)
        kernel = torch.where(chosen[:, None], kernel, identity).repeat_interleave(channels, 0)
        flat = x.reshape(1, n * channels, *x.shape[2:])
        flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :],
                        groups=n * channels)
        flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None],
                        groups=n * channels)
        return flat.reshape(x.shape)

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
        if cfg.jpeg:
            images = self._jpeg(images)
        x = images.float() / 255.0
        grid = self._grid(self._windows(n, x.device), list(x.shape))
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if cfg.blur:
            x = self._blur(x)
        if cfg.gamma:
            gamma = torch.exp(self._uniform(n, -math.log1p(cfg.gamma), math.log1p(cfg.gamma), x.device))
            x = x.clamp(min=0.0) ** gamma.view(-1, 1, 1, 1)
        if cfg.brightness:
            x = x * self._uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, x.device).view(-1, 1, 1, 1)
        if cfg.contrast:
            x = x.clamp(0.0, 1.0)
            gray = x.mean(dim=(1, 2, 3), keepdim=True) if x.shape[1] == 1 else \
                (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).mean(dim=(1, 2, 3), keepdim=True)
            factor = self._uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, x.device).view(-1, 1, 1, 1)
            x = factor * x + (1 - factor) * gray
        if cfg.noise:
            x = x + torch.randn_like(x) * self._uniform(n, 0.0, cfg.noise, x.device).view(-1, 1, 1, 1)
        x = x.clamp(0.0, 1.0).expand(-1, 3, -1, -1) if x.shape[1] == 1 else x.clamp(0.0, 1.0)
        x = (x - self.mean) / self.std
        return self._erase(x) if cfg.erasing else x
