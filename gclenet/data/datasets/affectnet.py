"""AffectNet (Mollahosseini et al., 2017), 7 or 8 classes, as folders or with its CSVs.

* Folders: ``<root>/{train,val}/<class>/`` where a class folder is named after the
  expression or by AffectNet's code (0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear,
  5 disgust, 6 anger, 7 contempt).
* CSVs: ``training.csv`` / ``validation.csv`` (``subDirectory_filePath``, ...,
  ``expression``) with images under ``Manually_Annotated_Images/``; codes 8-10 (none,
  uncertain, non-face) are skipped.

Its classes are the 8 it is labelled with (AffectNet-8, contempt included); pass the 7
basic classes (``classes`` without contempt) for AffectNet-7.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from gclenet.data.classes import CANONICAL_CLASSES, canonical_name, index_of
from gclenet.data.registry import Sample, register_dataset
from gclenet.data.folders import DatasetLayoutError, find_split_dir, read_class_folders

__all__ = ["read_affectnet", "AFFECTNET_LABELS"]

AFFECTNET_LABELS = {0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust", 6: "angry", 7: "contempt"}
LAYOUT = "{train,val}/<class or code 0-7>/ or training.csv/validation.csv + Manually_Annotated_Images/"
_CSV = {"train": "training.csv", "val": "validation.csv", "test": "validation.csv"}


@register_dataset("affectnet", classes=CANONICAL_CLASSES, grayscale=False, layout=LAYOUT, splits=("train", "val"))
def read_affectnet(root: str | Path, split: str, classes: Sequence[str] = CANONICAL_CLASSES) -> list[Sample]:
    root = Path(root)
    if split not in _CSV:
        raise ValueError(f"AffectNet splits are train and val (test = val), got {split!r}")
    csv_path = root / _CSV[split]
    if not csv_path.is_file():
        split_dir = find_split_dir(root, split, {"train": ("train",), "val": ("val", "validation", "test"),
                                                 "test": ("val", "validation", "test")}, LAYOUT)
        folder_map = {p.name: _folder_class(p.name) for p in split_dir.iterdir() if p.is_dir()}
        return read_class_folders(split_dir, classes, folder_map, expected=LAYOUT)
    wanted = index_of(classes)
    image_dir = root / "Manually_Annotated_Images"
    samples = []
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"subDirectory_filePath", "expression"} <= set(reader.fieldnames or ()):
            raise DatasetLayoutError(f"{csv_path}: columns {reader.fieldnames}; expected {LAYOUT}")
        for row_number, row in enumerate(reader, start=2):
            code = (row["expression"] or "").strip()
            if not code.lstrip("-").isdigit():
                raise DatasetLayoutError(f"{csv_path}:{row_number}: expression {code!r}, expected a code 0-10")
            name = AFFECTNET_LABELS.get(int(code))
            if name in wanted:
                samples.append(Sample(image_dir / row["subDirectory_filePath"], wanted[name]))
    return samples


def _folder_class(name: str) -> str | None:
    if name.isdigit():
        return AFFECTNET_LABELS.get(int(name))
    try:
        return canonical_name(name)
    except KeyError:
        return None
