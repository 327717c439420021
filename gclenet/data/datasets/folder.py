"""Data sets distributed as class folders: CAER-S, FED-RO, and your own (``folder``).

``<root>/<split>/<class>/<images>``, or ``<root>/<class>/`` for the split ``all`` (FED-RO
as distributed). Class folders are matched by expression name (``Anger``,
``happiness``...) or by the option ``class_map`` (folder name -> class name), which is how
your own classes come in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gclenet.data.classes import BASIC_CLASSES
from gclenet.data.folders import DatasetLayoutError, find_split_dir, read_class_folders
from gclenet.data.registry import Sample, register_dataset

__all__ = ["read_folder"]

LAYOUT = "<root>/{train,test}/<class name>/<images>"
_SPLIT_ALIASES = {"train": ("train", "training"), "test": ("test", "val", "validation"), "val": ("val", "validation")}


@register_dataset("caer_s", classes=BASIC_CLASSES, grayscale=False, layout="{train,test}/<Anger|Disgust|...>/")
@register_dataset("fed_ro", classes=BASIC_CLASSES, grayscale=False, layout="<class>/ (split all) or {train,test}/<class>/")
@register_dataset("folder", classes=BASIC_CLASSES, grayscale=False, layout=LAYOUT)
def read_folder(
    root: Path, split: str, classes: Sequence[str], *, class_map: dict[str, str] | None = None
) -> list[Sample]:
    """Any ``ImageFolder``-style tree: ``<root>/<split>/<class>/``, or ``<root>/<class>/`` for split ``all``."""
    root = Path(root)
    if split == "all":
        if not root.is_dir():
            raise DatasetLayoutError(f"{root}: no such directory; expected {LAYOUT}")
        return read_class_folders(root, classes, class_map, expected=LAYOUT)
    split_dir = find_split_dir(root, split, _SPLIT_ALIASES, LAYOUT)
    return read_class_folders(split_dir, classes, class_map, expected=LAYOUT)
