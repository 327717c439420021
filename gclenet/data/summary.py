"""``gclenet data summary``: images per split and class after mapping, unreadable files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from gclenet.data.classes import class_list
from gclenet.data.dataset import FERDataset
from gclenet.data.folders import DatasetLayoutError
from gclenet.data.image_io import ImageLoadError
from gclenet.data.registry import Sample, get_dataset_spec, read_split

__all__ = ["readable_samples", "summarize_dataset"]


def readable_samples(dataset: FERDataset, unreadable: list[str], *, desc: str, progress: bool = True) -> Iterator[Sample]:
    """Decode every sample of ``dataset`` once; yield those that decode, note the others' errors."""
    for sample in tqdm(dataset.samples, desc=desc, disable=not progress, unit="img"):
        try:
            dataset.decode(sample)
        except ImageLoadError as err:
            unreadable.append(str(err))
            continue
        yield sample


def summarize_dataset(name: str, root: str | Path, *, classes: list[str] | None = None,
                      options: dict[str, Any] | None = None, check_images: bool = True,
                      progress: bool = True) -> dict[str, Any]:
    """Counts per split and class; with ``check_images`` every file is decoded once and
    only readable images are counted (the others are listed).

    Raises:
        DatasetLayoutError: not one split of the data set could be read under ``root``.
    """
    spec = get_dataset_spec(name)
    classes = list(class_list(classes) if classes else spec.classes)  # "Anger" is angry, as in training
    splits: dict[str, dict[str, int]] = {}
    unreadable: list[str] = []
    seen: list[list[tuple[Path, int]]] = []
    errors = []
    for split in (*spec.splits, "all"):  # "all": a flat <class>/ tree, tried when no split is found
        if split == "all" and splits:
            break
        try:
            samples = read_split(name, root, split, classes, **(options or {}))
        except DatasetLayoutError as err:
            errors.append(str(err))
            continue
        except ValueError:
            if split == "all":  # the data set has no such split
                continue
            raise
        # e.g. FER2013 folders: val/ serves val and test. Only files can be the same twice:
        # pixels read from a CSV are one split's rows (and arrays cannot be compared with ==).
        files = [(s.source, s.label) for s in samples if isinstance(s.source, Path)]
        if files and files in seen:
            continue
        seen.append(files)
        dataset = FERDataset(samples, classes, grayscale=spec.grayscale)
        if check_images:  # then only readable images are counted
            dataset = FERDataset(list(readable_samples(dataset, unreadable, desc=f"check {split}", progress=progress)),
                                 classes, grayscale=spec.grayscale)
        splits[split] = dataset.class_counts()
    if not splits:
        raise DatasetLayoutError(errors[0] if errors else f"{root}: no split of {name} found")
    return {"dataset": name, "root": str(root), "classes": classes, "splits": splits, "unreadable": unreadable}
