"""Name -> builder registry behind :func:`gclenet.models.create_model`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__all__ = ["register_model", "list_models", "get_model_builder"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``builder`` under its function name."""
    name = builder.__name__
    if name in _BUILDERS:
        raise ValueError(f"model {name!r} is registered twice")
    _BUILDERS[name] = builder
    return builder


def list_models() -> list[str]:
    """Registered model names, in registration order."""
    return list(_BUILDERS)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The builder registered as ``name``; ``KeyError`` names the valid choices."""
    try:
        return _BUILDERS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(_BUILDERS)}") from None
