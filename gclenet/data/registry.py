"""Data sets by name: each reader registers itself, next to its code, with what it reads.

A reader is ``reader(root, split, classes, **options) -> list[Sample]``: the images of one
split, labelled by index into ``classes`` (the task's class list, see
:mod:`gclenet.data.classes`). Readers live one per file in :mod:`gclenet.data.datasets`
and register with :func:`register_dataset`, as models do with ``register_model``::

    @register_dataset("toy", classes=BASIC_CLASSES, grayscale=True, layout="<root>/<split>.csv")
    def read_toy(root: Path, split: str, classes: Sequence[str]) -> list[Sample]: ...

Importing :mod:`gclenet.data` imports every reader file, so they are all registered;
none of this imports torch, so the command line lists the data sets without torch's
start-up time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Sample", "Reader", "DatasetSpec", "register_dataset", "list_datasets", "get_dataset_spec", "read_split"]


@dataclass(frozen=True)
class Sample:
    """One image: a file (or in-memory pixels, for CSV data sets) and its label index."""

    source: Path | np.ndarray
    label: int
    subject: str | None = None  # person id, for subject-independent splits
    target: tuple[float, ...] | None = None  # a label distribution over the classes (FER+ votes); None: one-hot
    origin: str | None = None  # where in-memory pixels come from ("fer2013.csv:12"): tells equal images apart

    @property
    def name(self) -> str:
        return str(self.source) if isinstance(self.source, Path) else "<pixels>"


Reader = Callable[..., list[Sample]]  # (root, split, classes, **options)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    reader: Reader
    classes: tuple[str, ...]  # default class list
    grayscale: bool  # decoded to one channel
    layout: str  # what the root must look like
    splits: tuple[str, ...] = ("train", "test")  # the splits the data set is distributed with


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(name: str, *, classes: Sequence[str], grayscale: bool, layout: str,
                     splits: Sequence[str] = ("train", "test")) -> Callable[[Reader], Reader]:
    """Decorator: register the reader below under ``name`` (stack it to register one reader
    under several names). ``ValueError`` on a name taken twice."""

    def register(reader: Reader) -> Reader:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} is registered twice")
        _DATASETS[name] = DatasetSpec(name, reader, tuple(classes), grayscale, layout, tuple(splits))
        return reader

    return register


def list_datasets() -> list[str]:
    """Registered data set names, sorted."""
    return sorted(_DATASETS)


def get_dataset_spec(name: str) -> DatasetSpec:
    """What is registered as ``name``; ``KeyError`` names the valid choices."""
    try:
        return _DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(sorted(_DATASETS))}") from None


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
