"""Data sets by name: each reader returns the samples of one split on the canonical classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gclenet.data.classes import BASIC_CLASSES
from gclenet.data.dataset import Sample
from gclenet.data.fer2013 import read_fer2013
from gclenet.data.folders import find_split_dir, read_class_folders

__all__ = ["DatasetSpec", "DATASETS", "get_dataset_spec", "read_split"]

Reader = Callable[[Path, str, Sequence[str]], list[Sample]]


@dataclass(frozen=True)
class DatasetSpec:
    reader: Reader
    classes: tuple[str, ...]  # default class list
    grayscale: bool  # decode to one channel
    layout: str  # what the root must look like


_FOLDER_LAYOUT = "<root>/{train,test}/<class name>/<images>"
_SPLIT_ALIASES = {"train": ("train", "training"), "test": ("test", "val", "validation"), "val": ("val", "validation")}


def read_folder(root: Path, split: str, classes: Sequence[str]) -> list[Sample]:
    """Any ``ImageFolder``-style tree whose class folders carry expression names."""
    return read_class_folders(find_split_dir(root, split, _SPLIT_ALIASES, _FOLDER_LAYOUT), classes, expected=_FOLDER_LAYOUT)


DATASETS: dict[str, DatasetSpec] = {
    "fer2013": DatasetSpec(read_fer2013, BASIC_CLASSES, True, "fer2013.csv or {train,test}/<class>/"),
    "folder": DatasetSpec(read_folder, BASIC_CLASSES, False, _FOLDER_LAYOUT),
}


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None


def read_split(name: str, root: str | Path, split: str, classes: Sequence[str] | None = None) -> list[Sample]:
    spec = get_dataset_spec(name)
    return spec.reader(Path(root), split, tuple(classes) if classes else spec.classes)
