"""What several command groups share: commands that need a pip extra, reader options from the
command line, the data set help."""

from __future__ import annotations

import argparse

from gclenet.extras import needs

__all__ = ["add_command", "options", "datasets_help", "port"]


def add_command(sub: argparse._SubParsersAction, name: str, help: str, *, extra: str | None = None,
                what: str | None = None) -> argparse.ArgumentParser:
    """A sub-command; one that needs ``extra`` says so in the command list and its ``--help``
    (``what``: which part of it does, when not all of it), and a missing package of that extra
    is reported as its ``pip install`` (see ``main``)."""
    if extra is None:
        return sub.add_parser(name, help=help)
    sentence = needs(extra, what or "This command")
    label = f"[{extra}]" if what is None else f"[{extra} for {what}]"
    parser = sub.add_parser(name, help=f"{help} {label}", description=f"{help[:1].upper() + help[1:]}. {sentence}.")
    parser.set_defaults(extra=extra)
    return parser


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


def folder(text: str) -> str:
    """An ``--out`` folder: one that exists or can be made; an existing file is refused in
    one line (instead of the ``[Errno 17] File exists`` of making the folder later)."""
    from pathlib import Path

    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; name a folder for the outputs (made if missing)")
    return text
