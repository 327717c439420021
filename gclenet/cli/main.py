"""``gclenet`` command line: one sub-command per job, defined by command group.

* :mod:`gclenet.cli.predict`: ``predict``, ``demo``, ``serve`` (recognising expressions)
* :mod:`gclenet.cli.training`: ``train``, ``ablate``, ``curves``
* :mod:`gclenet.cli.evaluation`: ``evaluate``, ``robustness``
* :mod:`gclenet.cli.models`: ``complexity``, ``export``, ``cam``
* :mod:`gclenet.cli.data`: ``data list``, ``data summary``, ``data check``
* :mod:`gclenet.cli.info`: ``info`` (versions, machine, weights, the backend ``auto`` picks)

Building the parser imports no torch: each command imports what it needs when it runs.
A command that needs a pip extra says so in its ``--help`` and sets ``extra`` in its
defaults; if the extra is missing, it stops with one line naming the ``pip install``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from gclenet.cli import data, evaluation, info, models, predict, training
from gclenet.extras import missing_package_hint

__all__ = ["main", "build_parser"]

GROUPS = (predict, training, evaluation, models, data, info)


def versions() -> str:
    """What a bug report needs, without importing torch (which would slow every --help)."""
    from importlib.metadata import PackageNotFoundError, version

    from gclenet import __version__

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    deps = [f"{name} {installed(name)}" for name in ("torch", "torchvision", "lightning")]
    runtime = next((f"{name} {installed(name)}" for name in ("onnxruntime", "onnxruntime-gpu")
                    if installed(name) != "not installed"), "onnxruntime not installed")
    return f"gclenet {__version__} (Python {sys.version.split()[0]}; {', '.join(deps + [runtime])})"


def backend_line(weights: str = "default") -> str:
    """The classifier backend ``predict`` uses here, as far as known without measuring (the
    cache of earlier measurements): one line for ``--version``."""
    from gclenet.inference.autoselect import cached_backends

    try:
        chosen = cached_backends(weights)
    except (OSError, ValueError) as err:  # e.g. a missing weights file: --version still answers
        return f"classifier backend: unknown ({err})"
    if not chosen:
        return "classifier backend: not measured on this machine yet (`gclenet info` measures, in seconds)"
    parts = ", ".join(f"{s.backend} at batch {b} [{s.source}{' ' + s.measured_on if s.measured_on else ''}]"
                      for b, s in chosen.items())
    which = "shipped weights" if weights == "default" else weights
    return f"classifier backend (auto, {which}): {parts}; `gclenet info --refresh` measures again"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(versions())
        print(backend_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gclenet", description="Facial expression recognition with GCLENet.")
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show versions and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    logging.getLogger("gclenet").setLevel(logging.INFO)  # our events (e.g. a fine-tune's fresh head), as Lightning's
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModuleNotFoundError as err:  # an optional package (a pip extra) not installed
        hint = missing_package_hint(err.name, getattr(args, "extra", None))
        if hint is None:  # no extra provides it: a broken install or a bug, shown in full
            raise
        print(f"gclenet {args.command}: error: {hint}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, FloatingPointError, OverflowError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"gclenet {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
