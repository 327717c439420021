"""``gclenet data check``: a data set's health before training on it.

Reports unreadable files, identical images shared by train and test (by content hash:
a leak), duplicates inside a split, class imbalance, and for CK+-style names the
subjects found on both sides. A leak (shared images or subjects) is an error.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from gclenet.data.classes import class_list
from gclenet.data.dataset import FERDataset
from gclenet.data.folders import DatasetLayoutError
from gclenet.data.registry import Sample, get_dataset_spec, read_split
from gclenet.data.summary import readable_samples

__all__ = ["check_dataset"]


def _digest(sample: Sample) -> str:
    if isinstance(sample.source, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(sample.source).tobytes()).hexdigest()
    return hashlib.sha256(Path(sample.source).read_bytes()).hexdigest()


def check_dataset(name: str, root: str | Path, *, train_split: str = "train", test_split: str = "test",
                  classes: list[str] | None = None, options: dict[str, Any] | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Health report; ``report["leak"]`` is true when train and test share images or subjects.

    ``classes``: the task's class list (default: the data set's), e.g. your own for ``folder``.
    """
    spec = get_dataset_spec(name)
    classes = list(class_list(classes) if classes else spec.classes)
    splits = {}
    for split in (train_split, test_split):
        try:
            splits[split] = read_split(name, root, split, classes, **(options or {}))
        except DatasetLayoutError:
            if split == train_split:
                raise
    owners: dict[str, list[tuple[str, str]]] = defaultdict(list)
    unreadable: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    for split, samples in splits.items():
        dataset = FERDataset(samples, classes, grayscale=spec.grayscale)
        readable = list(readable_samples(dataset, unreadable, desc=f"check {split}", progress=progress))
        counts[split] = FERDataset(readable, classes, grayscale=spec.grayscale).class_counts()
        for sample in readable:
            owners[_digest(sample)].append((split, sample.name))
    cross = [files for files in owners.values() if len({s for s, _ in files}) > 1]
    within = [files for files in owners.values() if len(files) > 1 and len({s for s, _ in files}) == 1]
    subjects = {split: {s.subject for s in samples if s.subject} for split, samples in splits.items()}
    shared_subjects = sorted(subjects.get(train_split, set()) & subjects.get(test_split, set()))
    train_counts = [n for n in counts[train_split].values() if n]
    report = {
        "dataset": name, "root": str(root), "counts": counts, "unreadable": unreadable,
        "duplicates_across_splits": [[f"{s}:{f}" for s, f in files] for files in cross],
        "duplicates_within_split": len(within),
        "imbalance_ratio": max(train_counts) / min(train_counts) if train_counts else None,
        "missing_classes": [c for c, n in counts[train_split].items() if n == 0],
        "subjects_in_both_splits": shared_subjects,
    }
    report["leak"] = bool(cross or shared_subjects)
    return report
