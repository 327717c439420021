"""Face data sets on one class list: readers by name, images as tensors, augmentation, corruptions.

It imports nothing of gclenet's model, training or inference code (checked by the import
contracts). Importing the package stays free of torch (the command line lists the data
sets from here); the tensor-side names are imported when first used.
"""

from typing import Any

from gclenet.data.classes import BASIC_CLASSES, CANONICAL_CLASSES, canonical_name, class_list
from gclenet.data.folders import DatasetLayoutError
from gclenet.data.image_io import ImageLoadError, load_image
from gclenet.data.registry import (
    DatasetSpec,
    Reader,
    Sample,
    get_dataset_spec,
    list_datasets,
    read_split,
    register_dataset,
)

import gclenet.data.datasets  # noqa: F401  (registers every reader file in it)

__all__ = [
    "AugmentConfig",
    "BASIC_CLASSES",
    "BatchAugment",
    "CANONICAL_CLASSES",
    "DatasetLayoutError",
    "DatasetSpec",
    "FERDataset",
    "ImageLoadError",
    "Reader",
    "Sample",
    "canonical_name",
    "class_list",
    "get_dataset_spec",
    "list_datasets",
    "load_image",
    "read_split",
    "register_dataset",
]

_LAZY = {"FERDataset": "gclenet.data.dataset", "AugmentConfig": "gclenet.data.transforms",
         "BatchAugment": "gclenet.data.transforms"}


def __getattr__(name: str) -> Any:  # torch-side names, imported on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gclenet.data' has no attribute {name!r}")
