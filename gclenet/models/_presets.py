"""The evaluation transform of trained weights (as torchvision's ``weights.transforms()``).

One definition serves every place a trained model sees a face outside training: the
Recognizer's crops, ``evaluate``, ``robustness`` and the validation set during
training. It is torchvision's resize on uint8 tensors, which is also what the training
images go through, so a model sees the same pixels in training and in use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as F

__all__ = ["EvalTransform", "IMAGENET_MEAN", "IMAGENET_STD", "rgb_to_gray"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def rgb_to_gray(image: Tensor) -> Tensor:
    """uint8 ``(3, H, W)`` -> ``(1, H, W)`` with PIL's ``convert("L")`` arithmetic (ITU-R 601-2
    luma, in 16-bit fixed point), so a colour crop turned gray here equals a file decoded gray."""
    r, g, b = image.to(torch.int32).unbind(0)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)[None]


class EvalTransform:
    """uint8 ``(C, H, W)`` face (C = 1 or 3) -> normalised float ``(3, input_size, input_size)``.

    Colour input of a grayscale model is turned gray first; gray input is replicated to
    three channels after resizing (one model serves gray and colour data and ImageNet
    weights). The steps are torchvision's (``Resize(antialias=True)``, ``ToDtype(scale=True)``,
    ``Normalize``), called directly: :meth:`batch` resizes each face and converts and
    normalises them together, with the same numbers as one at a time.

    Args:
        input_size: the square side the model was trained at.
        mean, std: per-channel normalisation after scaling to [0, 1].
        grayscale: the model was trained on one-channel faces.
    """

    def __init__(self, input_size: int, *, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, grayscale: bool = False) -> None:
        self.input_size, self.grayscale = int(input_size), bool(grayscale)
        self.mean, self.std = tuple(mean), tuple(std)
        self._mean = torch.tensor(self.mean).view(-1, 1, 1)
        self._std = torch.tensor(self.std).view(-1, 1, 1)

    def _resized(self, image: Tensor) -> Tensor:
        if self.grayscale and image.shape[0] == 3:
            image = rgb_to_gray(image)
        image = F.resize(image, [self.input_size, self.input_size], antialias=True)
        return image.expand(3, *image.shape[1:]) if image.shape[0] == 1 else image

    def batch(self, images: Sequence[Tensor]) -> Tensor:
        """uint8 faces of any sizes -> one normalised float ``(N, 3, input_size, input_size)`` batch."""
        x = torch.stack([self._resized(image) for image in images]).to(torch.float32).mul_(1.0 / 255)
        return x.sub(self._mean.to(x.device)).div(self._std.to(x.device))

    def __call__(self, image: Tensor) -> Tensor:
        return self.batch([image])[0]

    def __repr__(self) -> str:
        return (f"EvalTransform(input_size={self.input_size}, mean={self.mean}, std={self.std}, "
                f"grayscale={self.grayscale})")
