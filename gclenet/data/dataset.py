"""One labelled-image data set type that every reader (RAF-DB, FER2013, CK+, ...) fills."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from gclenet.data.image_io import ImageLoadError, load_image

__all__ = ["Sample", "FERDataset"]


@dataclass(frozen=True)
class Sample:
    """One image: a file (or in-memory pixels, for CSV data sets) and its label index."""

    source: Path | np.ndarray
    label: int
    subject: str | None = None  # person id, for subject-independent splits

    @property
    def name(self) -> str:
        return str(self.source) if isinstance(self.source, Path) else "<pixels>"


class FERDataset(Dataset):
    """Labelled face images as ``(uint8 tensor C x H x W, label)`` through ``transform``.

    Args:
        samples: the images and labels.
        classes: class names; ``samples[i].label`` indexes this list.
        transform: applied to the uint8 tensor (see :mod:`gclenet.data.transforms`).
        grayscale: decode to one channel (FER2013, CK+); else RGB.
        cache: decode every image once into memory (small data sets; saves CPU).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        classes: Sequence[str],
        transform: Callable[[Tensor], Tensor] | None = None,
        *,
        grayscale: bool = False,
        cache: bool = False,
    ) -> None:
        self.samples = list(samples)
        self.classes = tuple(classes)
        self.transform = transform
        self.mode = "L" if grayscale else "RGB"
        self.skipped: list[str] = []  # one line per unreadable file dropped while caching
        self._cache: list[Tensor] | None = None
        if cache:
            kept, decoded = [], []
            for sample in self.samples:
                try:
                    decoded.append(self.decode(sample))
                    kept.append(sample)
                except ImageLoadError as err:
                    self.skipped.append(str(err))
            self.samples, self._cache = kept, decoded

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [s.label for s in self.samples]

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.targets)
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}

    def decode(self, sample: Sample) -> Tensor:
        """uint8 ``(C, H, W)`` pixels of ``sample`` (``ImageLoadError`` if unreadable)."""
        if isinstance(sample.source, np.ndarray):
            array = sample.source
            if self.mode == "RGB" and array.ndim == 2:
                array = np.repeat(array[..., None], 3, axis=2)
        else:
            array = np.asarray(load_image(sample.source, self.mode))
        tensor = torch.from_numpy(np.array(array, copy=True))
        return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()

    def load(self, index: int) -> Tensor:
        """The decoded uint8 image ``index`` (``ImageLoadError`` if it is unreadable)."""
        return self._cache[index] if self._cache is not None else self.decode(self.samples[index])

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image = self.load(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.samples[index].label

    def unreadable(self) -> list[str]:
        """One line per sample that cannot be decoded."""
        bad = []
        for sample in self.samples:
            try:
                self.decode(sample)
            except ImageLoadError as err:
                bad.append(str(err))
        return bad
