"""The GCLENet model library: variants by name, trained weights and their record,
re-parameterisation. It imports nothing else of gclenet (checked by the import contracts)."""

from gclenet.models._presets import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from gclenet.models._registry import list_models
from gclenet.models._reparam import is_reparameterized, reparameterize_model
from gclenet.models.gclenet import ABLATION_TABLES, GCLENet, GCLENetConfig, create_model
from gclenet.models.weights import SHIPPED_WEIGHTS, WeightsInfo, load, read_weights_info

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
    "is_reparameterized",
    "list_models",
    "load",
    "read_weights_info",
    "reparameterize_model",
]
