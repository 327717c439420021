"""The GCLENet model library: variants by name, re-parameterisation, complexity."""

from gclenet.models._registry import list_models
from gclenet.models._reparam import is_reparameterized, reparameterize_model
from gclenet.models.gclenet import ABLATION_TABLES, GCLENet, GCLENetConfig, create_model

__all__ = [
    "ABLATION_TABLES",
    "GCLENet",
    "GCLENetConfig",
    "create_model",
    "is_reparameterized",
    "list_models",
    "reparameterize_model",
]
