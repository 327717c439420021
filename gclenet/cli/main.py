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


def _cmd_complexity(args: argparse.Namespace) -> int:
    import json

    from gclenet.models.complexity import MAIN_VARIANTS, PAPER, measure_complexity

    rows = [measure_complexity(n, input_size=args.input_size, num_classes=args.num_classes) for n in MAIN_VARIANTS]
    if args.json:
        print(json.dumps({"input_size": args.input_size, "num_classes": args.num_classes,
                          "variants": [r.to_dict() for r in rows]}, indent=2))
        return 0
    print(f"GCLENet variants at {args.input_size}x{args.input_size}, {args.num_classes} classes "
          "(MACs: torch.utils.flop_counter on the deploy model; paper: thop at 224)")
    print(f"{'variant':<13}{'params':>12}{'deploy':>12}{'paper':>9}{'MACs deploy':>14}{'(attention)':>13}{'paper FLOPs':>13}")
    for r in rows:
        paper = PAPER[r.name]
        flops = f"{paper['flops_m']:.0f} M" if paper["flops_m"] else "-"
        print(f"{r.name:<13}{r.params / 1e6:>10.3f} M{r.params_deploy / 1e6:>10.3f} M{paper['params_m']:>7.2f} M"
              f"{r.macs_deploy / 1e6:>12.0f} M{r.attention_macs / 1e6:>11.1f} M{flops:>13}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gclenet", description="Facial expression recognition with GCLENet.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("overrides", nargs="*", help="config overrides such as optim.lr=0.01 trainer.max_epochs=5")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("complexity", help="parameters and MACs of the four main variants, beside the paper's")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--num-classes", type=int, default=7)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_cmd_complexity)
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
