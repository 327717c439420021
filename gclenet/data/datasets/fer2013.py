"""FER2013 (Goodfellow et al., 2013): the original CSV or the image-folder layout.

* CSV ``fer2013.csv``: columns ``emotion`` (0-6 = angry, disgust, fear, happy, sad,
  surprise, neutral: the canonical order), ``pixels`` (2304 space-separated values of a
  48x48 grayscale face) and ``Usage``: ``Training`` -> split ``train``, ``PublicTest``
  -> ``val``, ``PrivateTest`` -> ``test``.
* Folders ``<root>/{train,test}/<class>/*.jpg`` (Kaggle's re-packaging); a ``val``
  folder (e.g. PublicTest) is accepted as the ``test`` split when there is no ``test``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gclenet.data.classes import BASIC_CLASSES, index_of
from gclenet.data.registry import Sample, register_dataset
from gclenet.data.folders import DatasetLayoutError, find_split_dir, read_class_folders

__all__ = ["read_fer2013"]

LAYOUT = "fer2013.csv (emotion,pixels,Usage) or {train,test}/<class>/*.jpg"
_USAGE = {"train": ("Training",), "val": ("PublicTest",), "test": ("PrivateTest",)}
_FOLDER_ALIASES = {"train": ("train", "Training"), "test": ("test", "val", "PublicTest"), "val": ("val", "PublicTest")}


def _find_csv(root: Path) -> Path | None:
    if root.is_file() and root.suffix == ".csv":
        return root
    candidate = root / "fer2013.csv"
    return candidate if candidate.is_file() else None


@register_dataset("fer2013", classes=BASIC_CLASSES, grayscale=True, layout=LAYOUT, splits=("train", "val", "test"))
def read_fer2013(root: str | Path, split: str, classes: Sequence[str] = BASIC_CLASSES) -> list[Sample]:
    """Samples of FER2013 ``split`` (``train``, ``val`` or ``test``) under ``root``."""
    root = Path(root)
    csv_path = _find_csv(root)
    if csv_path is None:
        return read_class_folders(find_split_dir(root, split, _FOLDER_ALIASES, LAYOUT), classes, expected=LAYOUT)
    if split not in _USAGE:
        raise ValueError(f"FER2013 CSV splits are train, val, test; got {split!r}")
    wanted = index_of(classes)
    samples = []
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"emotion", "pixels", "Usage"} <= set(reader.fieldnames or ()):
            raise DatasetLayoutError(f"{csv_path}: columns {reader.fieldnames}; expected {LAYOUT}")
        for row_number, row in enumerate(reader, start=2):
            if row["Usage"] not in _USAGE[split]:
                continue
            emotion = row["emotion"].strip()
            if not (emotion.isdigit() and int(emotion) < len(BASIC_CLASSES)):
                raise DatasetLayoutError(f"{csv_path}:{row_number}: emotion {emotion!r}, expected 0-6 "
                                         f"({', '.join(BASIC_CLASSES)})")
            name = BASIC_CLASSES[int(emotion)]
            if name not in wanted:
                continue
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except ValueError:
                pixels = np.array([-1])
            if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
                raise DatasetLayoutError(f"{csv_path}:{row_number}: pixels must be whole numbers 0-255")
            pixels = pixels.astype(np.uint8)
            if pixels.size != 48 * 48:
                raise DatasetLayoutError(f"{csv_path}:{row_number}: {pixels.size} pixels, expected 2304 (48x48)")
            samples.append(Sample(pixels.reshape(48, 48), wanted[name], origin=f"{csv_path}:{row_number}"))
    return samples
