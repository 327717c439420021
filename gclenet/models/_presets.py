"""The evaluation transform of trained weights (as torchvision's ``weights.transforms()``).

One definition serves every place a trained model sees a face outside training: the
Recognizer's crops (PyTorch and ONNX Runtime alike), ``evaluate``, ``robustness``, the
int8 calibration and the validation set during training. The arithmetic is done once,
in NumPy and Pillow (:meth:`EvalTransform.numpy_batch`); the PyTorch entry points wrap
its result, so both engines see the same numbers on every platform and the ONNX Runtime
path needs no torch. Pillow's bilinear resize is antialiased when it shrinks, as
torchvision's ``Resize(antialias=True)`` is (they differ by at most one grey level).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["EvalTransform", "IMAGENET_MEAN", "IMAGENET_STD", "rgb_to_gray"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def rgb_to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W, 3)`` -> ``(H, W)`` with PIL's ``convert("L")`` arithmetic (ITU-R 601-2
    luma, in 16-bit fixed point), so a colour crop turned gray here equals a file decoded gray."""
    r, g, b = (image[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


class EvalTransform:
    """uint8 face (C = 1 or 3) -> normalised float ``(3, input_size, input_size)``.

    Colour input of a grayscale model is turned gray first; gray input is replicated to
    three channels after resizing (one model serves gray and colour data and ImageNet
    weights). Then the resize (stretched to the square input), scaling to [0, 1] and the
    per-channel normalisation.

    Args:
        input_size: the square side the model was trained at.
        mean, std: per-channel normalisation after scaling to [0, 1].
        grayscale: the model was trained on one-channel faces.
    """

    def __init__(self, input_size: int, *, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, grayscale: bool = False) -> None:
        self.input_size, self.grayscale = int(input_size), bool(grayscale)
        self.mean, self.std = tuple(mean), tuple(std)
        self._mean = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        self._std = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)

    def _resized(self, image: np.ndarray) -> np.ndarray:
        """One uint8 ``(H, W)`` or ``(H, W, C)`` face -> uint8 ``(3, S, S)``."""
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        if self.grayscale and image.ndim == 3:
            image = rgb_to_gray(image)
        side = self.input_size
        if image.shape[:2] != (side, side):
            image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((side, side), Image.BILINEAR))
        return np.broadcast_to(image, (3, side, side)) if image.ndim == 2 else image.transpose(2, 0, 1)

    def numpy_batch(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 faces ``(H, W)`` or ``(H, W, C)`` of any sizes -> one C-contiguous float32
        ``(N, 3, input_size, input_size)`` batch: the model's input, for any engine."""
        if not len(faces):
            return np.zeros((0, 3, self.input_size, self.input_size), dtype=np.float32)
        x = np.ascontiguousarray(np.stack([self._resized(face) for face in faces]), dtype=np.float32)
        x *= np.float32(1.0 / 255)
        x -= self._mean
        x /= self._std
        return x

    def batch(self, images: Sequence[Tensor]) -> Tensor:
        """uint8 ``(C, H, W)`` tensors of any sizes -> one normalised float ``(N, 3, S, S)`` tensor
        (on the first image's device): :meth:`numpy_batch`'s numbers."""
        import torch

        faces = [image.detach().cpu().permute(1, 2, 0).numpy() for image in images]
        out = torch.from_numpy(self.numpy_batch(faces))
        return out.to(images[0].device) if len(images) else out

    def __call__(self, image: Tensor) -> Tensor:
        return self.batch([image])[0]

    def __repr__(self) -> str:
        return (f"EvalTransform(input_size={self.input_size}, mean={self.mean}, std={self.std}, "
                f"grayscale={self.grayscale})")
