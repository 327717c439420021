"""Controlled corruptions of face images for robustness tests (occlusion, pose, quality).

They mirror the Occlusion-/Pose-RAF-DB protocols of RAN (Wang et al., 2020), the
paper's baseline [24], on aligned faces, where facial regions sit at fixed fractions of
the image. Our fixed regions (fractions of height H and width W, aligned faces):

* eyes: rows 0.20-0.48 H, columns 0.10-0.90 W
* mouth: rows 0.62-0.90 H, columns 0.22-0.78 W

Every random choice comes from a generator seeded by (seed, corruption, severity,
image index), so a corrupted test set is the same in every run.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

__all__ = ["Corruption", "CORRUPTION_FAMILIES", "corruption_grid", "parse_corruption", "EYES", "MOUTH"]

EYES = (0.20, 0.48, 0.10, 0.90)  # top, bottom, left, right as fractions
MOUTH = (0.62, 0.90, 0.22, 0.78)
GRAY = 128


def _region(image: Tensor, box: tuple[float, float, float, float]) -> Tensor:
    out = image.clone()
    height, width = image.shape[-2:]
    top, bottom, left, right = box
    out[..., round(top * height) : round(bottom * height), round(left * width) : round(right * width)] = GRAY
    return out


def _patch(image: Tensor, area: float, g: torch.Generator) -> Tensor:
    out = image.clone()
    height, width = image.shape[-2:]
    side_h = max(1, round(math.sqrt(area) * height))
    side_w = max(1, round(math.sqrt(area) * width))
    y = int(torch.randint(0, height - side_h + 1, (1,), generator=g))
    x = int(torch.randint(0, width - side_w + 1, (1,), generator=g))
    out[..., y : y + side_h, x : x + side_w] = GRAY
    return out


def _rotate(image: Tensor, degrees: float, g: torch.Generator) -> Tensor:
    sign = 1 if bool(torch.randint(0, 2, (1,), generator=g)) else -1
    return TF.rotate(image, sign * degrees, interpolation=TF.InterpolationMode.BILINEAR, fill=GRAY)


def _blur(image: Tensor, sigma: float, g: torch.Generator) -> Tensor:
    sigma = sigma * image.shape[-1] / 48  # severity defined at FER2013's 48 px
    kernel = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(image, [kernel, kernel], [sigma, sigma])


def _noise(image: Tensor, std: float, g: torch.Generator) -> Tensor:
    noisy = image.float() + torch.randn(image.shape, generator=g) * std * 255
    return noisy.clamp(0, 255).to(torch.uint8)


def _low_resolution(image: Tensor, factor: float, g: torch.Generator) -> Tensor:
    height, width = image.shape[-2:]
    small = TF.resize(image, [max(1, round(height / factor)), max(1, round(width / factor))], antialias=True)
    return TF.resize(small, [height, width], antialias=False)


@dataclass(frozen=True)
class Corruption:
    family: str
    severity: float
    apply: Callable[[Tensor, torch.Generator], Tensor]

    @property
    def name(self) -> str:
        return f"{self.family}@{self.severity:g}"

    def __call__(self, image: Tensor, index: int, seed: int = 0) -> Tensor:
        """Corrupt uint8 ``(C, H, W)`` image ``index`` of a data set, deterministically."""
        key = zlib.crc32(f"{seed}/{self.name}/{index}".encode())
        return self.apply(image, torch.Generator().manual_seed(key))


# family -> (severity unit, severities, function of (image, severity, generator))
CORRUPTION_FAMILIES: dict[str, tuple[str, tuple[float, ...], Callable[[Tensor, float, torch.Generator], Tensor]]] = {
    "patch": ("% of face area", (10, 20, 30, 40, 50), lambda im, s, g: _patch(im, s / 100, g)),
    "eyes": ("occluded", (1,), lambda im, s, g: _region(im, EYES)),
    "mouth": ("occluded", (1,), lambda im, s, g: _region(im, MOUTH)),
    "rotation": ("degrees (random sign)", (15, 30, 45), _rotate),
    "hflip": ("flipped", (1,), lambda im, s, g: im.flip(-1)),
    "blur": ("Gaussian sigma at 48 px", (1, 2, 3), _blur),
    "noise": ("Gaussian std (of 1)", (0.05, 0.1, 0.2), _noise),
    "low_resolution": ("downscale factor", (2, 3, 4), _low_resolution),
}


def corruption_grid(families: list[str] | None = None) -> list[Corruption]:
    """Every (family, severity) pair, in a stable order."""
    chosen = families or list(CORRUPTION_FAMILIES)
    unknown = set(chosen) - set(CORRUPTION_FAMILIES)
    if unknown:
        raise ValueError(f"unknown corruption(s) {sorted(unknown)}; valid: {', '.join(CORRUPTION_FAMILIES)}")
    grid = []
    for family in chosen:
        _, severities, fn = CORRUPTION_FAMILIES[family]
        grid += [Corruption(family, s, lambda im, g, fn=fn, s=s: fn(im, s, g)) for s in severities]
    return grid


def parse_corruption(spec: str) -> Corruption:
    """``"rotation@30"`` -> that corruption; a family with one severity may omit it (``"eyes"``)."""
    family, _, severity = spec.partition("@")
    if family not in CORRUPTION_FAMILIES:
        raise ValueError(f"unknown corruption {family!r}; valid: {', '.join(CORRUPTION_FAMILIES)}")
    unit, severities, fn = CORRUPTION_FAMILIES[family]
    try:
        value = float(severity) if severity else (severities[0] if len(severities) == 1 else None)
    except ValueError:
        value = None
    if value is None:
        raise ValueError(f"corruption {spec!r} needs a severity in {unit}, e.g. {family}@{severities[-1]:g}")
    return Corruption(family, value, lambda im, g, fn=fn, s=value: fn(im, s, g))
