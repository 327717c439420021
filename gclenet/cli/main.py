"""``gclenet`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["main"]


def _cmd_train(args: argparse.Namespace) -> int:
    from gclenet.training.config import load_config
    from gclenet.training.train import train

    config = load_config(args.config, args.overrides)
    best = train(config, resume=args.resume)
    print(best)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gclenet", description="Facial expression recognition with GCLENet.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("overrides", nargs="*", help="config overrides such as optim.lr=0.01 trainer.max_epochs=5")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError, RuntimeError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"gclenet {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
