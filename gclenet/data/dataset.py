"""One labelled-image data set type that every reader (RAF-DB, FER2013, CK+, ...) fills."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from gclenet.data.image_io import ImageLoadError, load_image
from gclenet.data.registry import Sample

__all__ = ["FERDataset", "TARGET_KINDS"]

TARGET_KINDS = ("index", "distribution", "sampled")


class FERDataset(Dataset):
    """Labelled face images as ``(uint8 tensor C x H x W, label)`` through ``transform``.

    Args:
        samples: the images and labels.
        classes: class names; ``samples[i].label`` indexes this list.
        transform: applied to the uint8 tensor (see :mod:`gclenet.data.transforms`).
        grayscale: decode to one channel (FER2013, CK+); else RGB.
        cache: decode every image once into memory (small data sets; saves CPU).
        target_kind: what an item's label is: ``"index"`` (the class index), ``"distribution"``
            (a float vector over the classes, the sample's ``target`` or its one-hot), or
            ``"sampled"`` (a class index drawn from that distribution each time).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        classes: Sequence[str],
        transform: Callable[[Tensor], Tensor] | None = None,
        *,
        grayscale: bool = False,
        cache: bool = False,
        target_kind: str = "index",
    ) -> None:
        if target_kind not in TARGET_KINDS:
            raise ValueError(f"target_kind {target_kind!r}; valid: {', '.join(TARGET_KINDS)}")
        self.samples = list(samples)
        self.target_kind = target_kind
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

    def distribution(self, sample: Sample) -> Tensor:
        """``sample``'s label distribution over the classes (one-hot without a ``target``)."""
        if sample.target is not None:
            return torch.tensor(sample.target, dtype=torch.float32)
        one_hot = torch.zeros(len(self.classes))
        one_hot[sample.label] = 1.0
        return one_hot

    def __getitem__(self, index: int) -> tuple[Tensor, int | Tensor]:
        image = self.load(index)
        if self.transform is not None:
            image = self.transform(image)
        sample = self.samples[index]
        if self.target_kind == "distribution":
            return image, self.distribution(sample)
        if self.target_kind == "sampled" and sample.target is not None:
            # torch's generator: the training sampler reseeds it every epoch, so a resume draws the same
            return image, int(torch.multinomial(self.distribution(sample), 1).item())
        return image, sample.label

    def unreadable(self) -> list[str]:
        """One line per sample that cannot be decoded."""
        bad = []
        for sample in self.samples:
            try:
                self.decode(sample)
            except ImageLoadError as err:
                bad.append(str(err))
        return bad
