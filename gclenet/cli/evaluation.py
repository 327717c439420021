"""``gclenet evaluate`` and ``robustness``: trained models scored on data set splits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gclenet.cli.common import add_command, datasets_help, folder, options

__all__ = ["add_parsers", "write_evaluation"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    datasets = datasets_help()
    p = add_command(sub, "evaluate", "metrics, confusion matrix and curves of a trained model on a data set",
                    extra="train")
    p.add_argument("--checkpoint", required=True, help="a run's .ckpt or exported .safetensors weights")
    p.add_argument("--dataset", help=datasets + "; default: the one the checkpoint was trained on")
    p.add_argument("--root", help="default: the checkpoint's, for the data set it was trained on")
    p.add_argument("--split", help="default: the split the checkpoint was validated on (where it validated on a "
                   "held-out part of its training split, that part: also by name, --split held-out), else test")
    p.add_argument("--tta", choices=["none", "flip"], default="none", help="test-time augmentation")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast, to measure its cost")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="reader option, e.g. fold=0 (CK+); replaces the checkpoint's own, which apply by default")
    p.add_argument("--allow-overlap", action="store_true",
                   help="score a split that shares images with the training set (refused by default) and report it")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--out", type=folder, help="write report.json, confusion matrices and training curves (PNG) here")
    p.set_defaults(func=_cmd_evaluate)

    p = add_command(sub, "calibrate", "fit the temperature of trained weights on held-out faces and store it "
                    "(and the training prior, for --balance) in their record", extra="train")
    p.add_argument("--weights", required=True, help="exported .safetensors weights (or a run's .ckpt, to measure only)")
    p.add_argument("--out", help="write the calibrated weights here (may be --weights itself); without it, only measure")
    p.add_argument("--dataset", help=datasets + "; default: the one the weights were trained on")
    p.add_argument("--root", help="default: the weights', for the data set they were trained on")
    p.add_argument("--split", help="default: what evaluate scores by default (a run's held-out part: --split held-out)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="reader option, as for evaluate")
    p.add_argument("--allow-overlap", action="store_true",
                   help="fit on faces the weights trained on (refused by default: the temperature comes out too low)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_calibrate)

    p = add_command(sub, "robustness", "accuracy under occlusion, pose and quality corruptions", extra="train")
    p.add_argument("--checkpoint", action="append", required=True, help="repeat to compare models side by side")
    p.add_argument("--name", action="append", help="display name per checkpoint")
    p.add_argument("--dataset", required=True, help=datasets)
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--families", nargs="*", help="subset of: patch eyes mouth rotation hflip blur noise low_resolution")
    p.add_argument("--seed", type=int, default=0, help="corruption seed (fixed: results comparable across runs)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--allow-overlap", action="store_true",
                   help="score a split that shares images with a checkpoint's training set (refused by default)")
    p.add_argument("--out", type=folder, help="write robustness.json, robustness.md and robustness.png here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_robustness)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from gclenet.training.evaluate import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, args.dataset, args.root, split=args.split, tta=args.tta,
                                 batch_size=args.batch_size, options=options(args.option),
                                 progress=not args.json, precision=args.precision, allow_overlap=args.allow_overlap)
    _warn_overlap("evaluate", report["overlap"])
    if args.out:
        write_evaluation(report, Path(args.out), Path(args.checkpoint))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['evaluated_on']}: {report['samples']} images, tta {report['tta']}, "
              f"{report['precision']}: "
              f"accuracy {report['accuracy']:.4f}, mean class accuracy {report['mean_class_accuracy']:.4f}, "
              f"macro F1 {report['macro_f1']:.4f}")
        for name, row in report["per_class"].items():
            print(f"  {name:<10} precision {row['precision']:.3f}  recall {row['recall']:.3f}  "
                  f"f1 {row['f1']:.3f}  n={row['support']}")
        if args.out:
            print(f"wrote {args.out}/report.json and PNGs")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import json

    from gclenet.training.calibrate import calibrate_weights

    report = calibrate_weights(args.weights, args.out, dataset=args.dataset, root=args.root, split=args.split,
                               options=options(args.option), allow_overlap=args.allow_overlap, progress=not args.json)
    _warn_overlap("calibrate", report["overlap"])
    print(json.dumps(report, indent=2) if args.json else
          f"{report['fitted_on']}: {report['faces']} faces: temperature {report['temperature']:.3f}; "
          f"expected calibration error ({report['bins']} bins) {report['ece_before']:.2%} -> "
          f"{report['ece_after']:.2%}, NLL {report['nll_before']:.4f} -> {report['nll_after']:.4f}"
          + (f"; wrote {report['out']}" if args.out else ""))
    return 0


def _warn_overlap(command: str, overlap: dict) -> None:
    """Say so when an allowed overlap was scored, or when the training set could not be checked."""
    if overlap.get("images"):
        print(f"gclenet {command}: warning: {overlap['images']} of the {overlap['of']} images were in the training "
              f"set ({overlap['training_set']}); this is not a test accuracy", file=sys.stderr)
    elif not overlap["checked"] and "cannot be read" in overlap["reason"]:
        print(f"gclenet {command}: note: not checked for overlap with the training set: {overlap['reason']}",
              file=sys.stderr)


def write_evaluation(report: dict, out: Path, checkpoint: Path) -> None:
    """``report.json``, the confusion matrices and the run's training curves (when its log has them)."""
    import json

    from gclenet.fileio import atomic_write_bytes
    from gclenet.training.plots import plot_confusion_matrix, plot_training_curves

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "report.json", lambda f: f.write(json.dumps(report, indent=2).encode()))
    where = report.get("evaluated_on") or f"{report['dataset']} {report['split']}"
    title = f"{where}: accuracy {report['accuracy']:.2%}"
    plot_confusion_matrix(report["confusion_matrix_normalized"], report["classes"], out / "confusion_matrix.png",
                          title=title)
    plot_confusion_matrix(report["confusion_matrix"], report["classes"], out / "confusion_matrix_counts.png",
                          title=title, normalized=False)
    metrics = checkpoint.resolve().parent.parent / "logs" / "metrics.csv"
    if metrics.is_file():
        try:
            plot_training_curves(metrics, out / "training_curves.png", title=str(checkpoint.parent.parent.name))
        except ValueError as err:  # a log without a finished epoch: the report stands without curves
            print(f"gclenet evaluate: no training curves: {err}", file=sys.stderr)


def _cmd_robustness(args: argparse.Namespace) -> int:
    import json

    from gclenet.fileio import atomic_write_bytes
    from gclenet.training.robustness import evaluate_robustness, plot_robustness, robustness_markdown

    report = evaluate_robustness(args.checkpoint, args.dataset, args.root, split=args.split, families=args.families,
                                 seed=args.seed, options=options(args.option), names=args.name,
                                 progress=not args.json, allow_overlap=args.allow_overlap)
    for row in report["models"].values():
        _warn_overlap("robustness", row["overlap"])
    if args.out:
        out = Path(args.out)
        atomic_write_bytes(out / "robustness.json", lambda f: f.write(json.dumps(report, indent=2).encode()))
        atomic_write_bytes(out / "robustness.md", lambda f: f.write(robustness_markdown(report).encode()))
        plot_robustness(report, out / "robustness.png")
    print(json.dumps(report, indent=2) if args.json else robustness_markdown(report))
    return 0
