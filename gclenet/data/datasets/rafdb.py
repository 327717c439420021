"""RAF-DB basic expressions (Li et al., CVPR 2017).

* As distributed: ``EmoLabel/list_patition_label.txt`` (``train_00001.jpg 5``) and
  ``Image/aligned/train_00001_aligned.jpg``; the ``train_``/``test_`` prefix is the split.
* The common re-packaging: ``[DATASET/]{train,test}/{1..7}/*.jpg``.

Labels 1-7 = surprise, fear, disgust, happiness, sadness, anger, neutral.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gclenet.data.classes import BASIC_CLASSES, index_of
from gclenet.data.registry import Sample, register_dataset
from gclenet.data.folders import DatasetLayoutError, find_split_dir, read_class_folders

__all__ = ["read_rafdb", "RAFDB_LABELS"]

RAFDB_LABELS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}
LAYOUT = "EmoLabel/list_patition_label.txt + Image/aligned/, or [DATASET/]{train,test}/{1..7}/"


@register_dataset("rafdb", classes=BASIC_CLASSES, grayscale=False, layout=LAYOUT)
def read_rafdb(root: str | Path, split: str, classes: Sequence[str] = BASIC_CLASSES) -> list[Sample]:
    root = Path(root)
    if split not in ("train", "test"):
        raise ValueError(f"RAF-DB splits are train and test, got {split!r}")
    labels = root / "EmoLabel" / "list_patition_label.txt"
    if not labels.is_file():
        packaged = root / "DATASET" if (root / "DATASET").is_dir() else root
        folder_map = {str(k): v for k, v in RAFDB_LABELS.items()}
        split_dir = find_split_dir(packaged, split, {"train": ("train",), "test": ("test",)}, LAYOUT)
        return read_class_folders(split_dir, classes, folder_map, expected=LAYOUT)
    wanted = index_of(classes)
    image_dir = root / "Image" / "aligned"
    if not image_dir.is_dir():
        raise DatasetLayoutError(f"{image_dir}: missing; expected {LAYOUT}")
    samples = []
    for line_no, line in enumerate(labels.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            name, label = line.split()
            label_name = RAFDB_LABELS[int(label)]
        except (ValueError, KeyError):
            raise DatasetLayoutError(f"{labels}:{line_no}: expected '<name>.jpg <1-7>', got {line!r}") from None
        if not name.startswith(split + "_") or label_name not in wanted:
            continue
        stem, suffix = name.rsplit(".", 1)
        samples.append(Sample(image_dir / f"{stem}_aligned.{suffix}", wanted[label_name]))
    if not samples:
        raise DatasetLayoutError(f"{labels}: no '{split}_' entries for classes {list(classes)}")
    return samples
