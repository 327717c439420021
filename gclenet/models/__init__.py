"""The GCLENet model library: variants by name, trained weights and their record,
re-parameterisation. It imports nothing else of gclenet (checked by the import contracts).

The names are imported when first used: the record of trained weights (``WeightsInfo``,
``read_weights_info``, ``SHIPPED_WEIGHTS``) and the evaluation transform work without
importing torch, which the ONNX Runtime path of ``gclenet predict`` never loads.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ABLATION_TABLES",
    "EvalTransform",
    "GCLENet",
    "GCLENetConfig",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SHIPPED_WEIGHTS",
    "WeightsInfo",
    "create_model",
    "get_model_builder",
    "is_reparameterized",
    "list_models",
    "load",
    "read_weights_info",
    "reparameterize_model",
]

# name -> the module defining it; the torch-side ones need the variants registered first
_TORCH_FREE = {"EvalTransform": "_presets", "IMAGENET_MEAN": "_presets", "IMAGENET_STD": "_presets",
               "SHIPPED_WEIGHTS": "weights", "WeightsInfo": "weights", "read_weights_info": "weights"}
_WITH_TORCH = {"ABLATION_TABLES": "gclenet", "GCLENet": "gclenet", "GCLENetConfig": "gclenet",
               "create_model": "gclenet", "list_models": "_registry",
               "get_model_builder": "_registry", "load": "weights",
               "is_reparameterized": "_reparam", "reparameterize_model": "_reparam"}


def __getattr__(name: str) -> Any:
    if name in _TORCH_FREE or name in _WITH_TORCH:
        if name in _WITH_TORCH:
            importlib.import_module("gclenet.models.gclenet")  # registers every variant
        value = getattr(importlib.import_module(f"gclenet.models.{(_TORCH_FREE | _WITH_TORCH)[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gclenet.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
