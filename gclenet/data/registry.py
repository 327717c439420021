"""Data sets by name: each reader returns the samples of one split on the canonical classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gclenet.data.affectnet import read_affectnet
from gclenet.data.ckplus import read_ckplus
from gclenet.data.classes import BASIC_CLASSES, CANONICAL_CLASSES
from gclenet.data.dataset import Sample
from gclenet.data.fer2013 import read_fer2013
from gclenet.data.ferplus import LAYOUT as FERPLUS_LAYOUT
from gclenet.data.ferplus import read_ferplus
from gclenet.data.folders import DatasetLayoutError, find_split_dir, read_class_folders
from gclenet.data.rafdb import read_rafdb

__all__ = ["DatasetSpec", "DATASETS", "get_dataset_spec", "read_split"]

Reader = Callable[..., list[Sample]]  # (root, split, classes, **options)


@dataclass(frozen=True)
class DatasetSpec:
    reader: Reader
    classes: tuple[str, ...]  # default class list
    grayscale: bool  # decode to one channel
    layout: str  # what the root must look like
    splits: tuple[str, ...] = ("train", "test")  # the splits the data set is distributed with


_FOLDER_LAYOUT = "<root>/{train,test}/<class name>/<images>"
_SPLIT_ALIASES = {"train": ("train", "training"), "test": ("test", "val", "validation"), "val": ("val", "validation")}


def read_folder(
    root: Path, split: str, classes: Sequence[str], *, class_map: dict[str, str] | None = None
) -> list[Sample]:
    """Any ``ImageFolder``-style tree: ``<root>/<split>/<class>/``, or ``<root>/<class>/`` for split ``all``.

    Class folders are matched by expression name (``Anger``, ``happiness``...) or by
    ``class_map`` (folder name -> class name), which is how your own classes come in.
    """
    root = Path(root)
    if split == "all":
        if not root.is_dir():
            raise DatasetLayoutError(f"{root}: no such directory; expected {_FOLDER_LAYOUT}")
        return read_class_folders(root, classes, class_map, expected=_FOLDER_LAYOUT)
    split_dir = find_split_dir(root, split, _SPLIT_ALIASES, _FOLDER_LAYOUT)
    return read_class_folders(split_dir, classes, class_map, expected=_FOLDER_LAYOUT)


DATASETS: dict[str, DatasetSpec] = {
    "fer2013": DatasetSpec(read_fer2013, BASIC_CLASSES, True, "fer2013.csv or {train,test}/<class>/",
                           ("train", "val", "test")),
    "ferplus": DatasetSpec(read_ferplus, CANONICAL_CLASSES, True, FERPLUS_LAYOUT, ("train", "val", "test")),
    "rafdb": DatasetSpec(read_rafdb, BASIC_CLASSES, False, "EmoLabel/ + Image/aligned/ or DATASET/{train,test}/{1..7}/"),
    "ckplus": DatasetSpec(read_ckplus, CANONICAL_CLASSES, True, "CK+48 class folders or cohn-kanade-images/ + Emotion/"),
    "affectnet": DatasetSpec(read_affectnet, BASIC_CLASSES, False, "{train,val}/<class>/ or training.csv + images",
                             ("train", "val")),
    "caer_s": DatasetSpec(read_folder, BASIC_CLASSES, False, "{train,test}/<Anger|Disgust|...>/"),
    "fed_ro": DatasetSpec(read_folder, BASIC_CLASSES, False, "<class>/ (split all) or {train,test}/<class>/"),
    "folder": DatasetSpec(read_folder, BASIC_CLASSES, False, _FOLDER_LAYOUT),
}


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None


def read_split(
    name: str, root: str | Path, split: str, classes: Sequence[str] | None = None, **options: Any
) -> list[Sample]:
    """Samples of one split; ``options`` go to the reader (e.g. CK+'s ``fold``, ``protocol``)."""
    spec = get_dataset_spec(name)
    try:
        return spec.reader(Path(root), split, tuple(classes) if classes else spec.classes, **options)
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise ValueError(f"dataset {name!r} does not take option(s) {sorted(options)}") from None
        raise
