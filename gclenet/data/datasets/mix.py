"""A mix of registered data sets read as one (the paper's pre-training on CAER-S, FED-RO and AffectNet).

No root of its own: the option ``parts`` lists ``{dataset, root, options, train_split,
val_split}``; each part's ``train_split`` (default: the split asked for) serves the
mix's ``train`` split, its ``val_split`` every other split. Colour and the 7 basic
classes unless the task's class list says otherwise. In a training config:
``data.dataset: mix`` with ``data.parts`` (see configs/paper/pretrain_mix.yaml).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gclenet.data.classes import BASIC_CLASSES
from gclenet.data.registry import Sample, read_split, register_dataset

__all__ = ["read_mix"]

_PART_KEYS = {"dataset", "root", "options", "train_split", "val_split"}


@register_dataset("mix", classes=BASIC_CLASSES, grayscale=False,
                  layout="no root: option parts = [{dataset, root, options, train_split, val_split}, ...]")
def read_mix(root: Path, split: str, classes: Sequence[str], *, parts: Sequence[dict[str, Any]] = ()) -> list[Sample]:
    """The samples of every part's split serving the mix's ``split``, on one class list."""
    if not parts:
        raise ValueError("dataset 'mix' needs data.parts: [{dataset: ..., root: ...}, ...]")
    samples: list[Sample] = []
    for part in parts:
        if set(part) - _PART_KEYS or not {"dataset", "root"} <= set(part):
            raise ValueError(f"data.parts entry {part}: needs dataset and root (and optional options, "
                             "train_split, val_split)")
        part_split = part.get("train_split" if split == "train" else "val_split", split)
        samples += read_split(part["dataset"], part["root"], part_split, classes, **part.get("options", {}))
    return samples
