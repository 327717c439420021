"""What several command groups share: reader options from the command line, the data set help."""

from __future__ import annotations

import argparse

__all__ = ["options", "datasets_help", "port"]


def options(items: list[str] | None) -> dict:
    """``KEY=VALUE`` reader options (values read as YAML: ``fold=0`` is the number 0)."""
    from gclenet.training.config import apply_overrides

    return apply_overrides({}, items or [])


def datasets_help() -> str:
    """The registered data sets, for ``--dataset`` help (the registry imports no torch)."""
    from gclenet.data import list_datasets

    return "one of: " + ", ".join(list_datasets()) + " (`gclenet data list` says what each reads)"


def port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port
