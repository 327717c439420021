"""``gclenet`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import logging
import os
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
    if args.plot:
        from gclenet.training.plots import plot_complexity

        plot_complexity([r.to_dict() for r in rows], PAPER, args.plot, input_size=args.input_size)
        print(f"wrote {args.plot}", file=sys.stderr)
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


def _options(items: list[str] | None) -> dict:
    from gclenet.training.config import apply_overrides

    return apply_overrides({}, items or [])


def _metadata(items: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` pairs kept as the text the user typed: a date or "64.39" is a label
    in the weights' metadata, not a value to convert (and a date is not even JSON)."""
    pairs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--meta {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from gclenet.training.evaluate import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, args.dataset, args.root, split=args.split, tta=args.tta,
                                 batch_size=args.batch_size, options=_options(args.option),
                                 progress=not args.json, precision=args.precision, allow_overlap=args.allow_overlap)
    _warn_overlap("evaluate", report["overlap"])
    if args.out:
        _write_evaluation(report, Path(args.out), Path(args.checkpoint))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['dataset']} {report['split']} ({report['samples']} images, tta {report['tta']}, "
              f"{report['precision']}): "
              f"accuracy {report['accuracy']:.4f}, mean class accuracy {report['mean_class_accuracy']:.4f}, "
              f"macro F1 {report['macro_f1']:.4f}")
        for name, row in report["per_class"].items():
            print(f"  {name:<10} precision {row['precision']:.3f}  recall {row['recall']:.3f}  "
                  f"f1 {row['f1']:.3f}  n={row['support']}")
        if args.out:
            print(f"wrote {args.out}/report.json and PNGs")
    return 0


def _warn_overlap(command: str, overlap: dict) -> None:
    """Say so when an allowed overlap was scored, or when the training set could not be checked."""
    if overlap.get("images"):
        print(f"gclenet {command}: warning: {overlap['images']} of the {overlap['of']} images were in the training "
              f"set ({overlap['training_set']}); this is not a test accuracy", file=sys.stderr)
    elif not overlap["checked"] and "cannot be read" in overlap["reason"]:
        print(f"gclenet {command}: note: not checked for overlap with the training set: {overlap['reason']}",
              file=sys.stderr)


def _cmd_curves(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gclenet.training.plots import plot_run_comparison, plot_training_curves, summarize_run

    def metrics_files(spec: str) -> list[Path]:
        parts = [spec] if Path(spec).exists() else spec.split("+")
        files = [Path(p) / "logs" / "metrics.csv" if Path(p).is_dir() else Path(p) for p in parts]
        for part, csv in zip(parts, files):
            if not csv.is_file():
                raise FileNotFoundError(f"{part}: no metrics.csv; give a run folder (with logs/metrics.csv) or the CSV")
        return files

    def run_name(run: str) -> str:  # a run folder, or the folder of its logs/metrics.csv
        path = Path(run.split("+")[0])
        return path.parent.parent.name if path.suffix == ".csv" else path.name

    names = args.names or [run_name(run) for run in args.runs]
    if len(names) != len(args.runs):
        raise ValueError(f"--names gives {len(names)} names for {len(args.runs)} runs")
    if len(set(names)) != len(names):  # one legend entry per run, none silently dropped
        raise ValueError(f"runs need different names, got {names}; give --names")
    runs = {name: metrics_files(run) for name, run in zip(names, args.runs)}
    if len(runs) == 1:
        plot_training_curves(next(iter(runs.values())), args.out, title=args.title or names[0])
    else:
        plot_run_comparison(runs, args.out, title=args.title)
    summaries = {name: summarize_run(files) for name, files in runs.items()}
    if args.json:
        import json

        print(json.dumps(summaries, indent=2))
    else:
        _print_run_summaries(summaries)
        print(f"wrote {args.out}")
    return 0


def _print_run_summaries(summaries: dict[str, dict]) -> None:
    def fmt(value: float | None, pattern: str) -> str:
        return "-" if value is None else format(value, pattern)

    width = max(20, *(len(name) for name in summaries))
    print(f"{'run':<{width}} {'epochs':>6} {'final val':>9} {'best val (epoch)':>16} {'median epoch s':>14} "
          f"{'median img/s':>12}")
    for name, s in summaries.items():
        best = f"{fmt(s['best_val_acc'], '.2%')} ({s['best_epoch']})" if s["best_epoch"] else "-"
        print(f"{name:<{width}} {s['epochs']:>6} {fmt(s['final_val_acc'], '.2%'):>9} {best:>16} "
              f"{fmt(s['median_train_epoch_s'], '.0f'):>14} {fmt(s['median_train_images_per_s'], '.1f'):>12}")


def _write_evaluation(report: dict, out: "Path", checkpoint: "Path") -> None:
    import json

    from gclenet.fileio import atomic_write_bytes
    from gclenet.training.plots import plot_confusion_matrix, plot_training_curves

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "report.json", lambda f: f.write(json.dumps(report, indent=2).encode()))
    title = f"{report['dataset']} {report['split']}: accuracy {report['accuracy']:.2%}"
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


def _cmd_data_summary(args: argparse.Namespace) -> int:
    import json

    from gclenet.data.summary import summarize_dataset

    summary = summarize_dataset(args.dataset, args.root, classes=args.classes, options=_options(args.option),
                                check_images=not args.no_check, progress=not args.json)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    classes = summary["classes"]
    print(f"{summary['dataset']} at {summary['root']}")
    print(f"{'split':<8}" + "".join(f"{c:>10}" for c in classes) + f"{'total':>10}")
    for split, counts in summary["splits"].items():
        print(f"{split:<8}" + "".join(f"{counts[c]:>10}" for c in classes) + f"{sum(counts.values()):>10}")
    for line in summary["unreadable"]:
        print(f"unreadable: {line}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from gclenet.inference import export

    if args.format == "safetensors":
        path = export.export_weights(args.weights, args.out, **_metadata(args.meta))
    elif args.format == "onnx":
        path = export.export_onnx(args.weights, args.out)
    else:
        path = export.export_torchscript(args.weights, args.out)
    print(path)
    return 0


def _cmd_cam(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gclenet.data.image_io import ImageLoadError
    from gclenet.fileio import unique_stem
    from gclenet.inference.cam import cam_figure
    from gclenet.inference.recognizer import Recognizer

    from gclenet.data.corruptions import parse_corruption

    try:
        corruptions = [parse_corruption(spec) for spec in args.corruption or []]
    except ValueError as err:
        print(f"gclenet cam: {err}", file=sys.stderr)
        return 2
    checkpoints = [args.weights] + (args.baseline or [])
    names = args.names or ["gclenet"] + (["resnet34"] if len(checkpoints) == 2 else
                                          [f"model {i}" for i in range(1, len(checkpoints))])
    if len(names) != len(checkpoints) or len(set(names)) != len(names):
        print(f"gclenet cam: --names needs {len(checkpoints)} different names (--weights, then each --baseline)",
              file=sys.stderr)
        return 2
    recognizers = {name: Recognizer(c, detector=args.detector, precision="fp32") for name, c in zip(names, checkpoints)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done = 0
    stems: set[str] = set()
    for image in args.images:
        try:
            target = out / f"{unique_stem(Path(image).stem, stems)}.cam.png"
            print(cam_figure(image, recognizers, target, corruptions))
            done += 1
        except (ImageLoadError, ValueError) as err:
            print(f"gclenet cam: {err}", file=sys.stderr)
    return 0 if done else 1


def _cmd_ablate(args: argparse.Namespace) -> int:
    from gclenet.training.ablation import ablation_markdown, run_ablation
    from gclenet.training.config import load_config

    summary = run_ablation(load_config(args.config, args.overrides), args.table, seeds=args.seeds,
                           budget_epochs=args.budget_epochs, out_dir=args.out)
    print(ablation_markdown(summary))
    return 0


def _cmd_robustness(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from gclenet.fileio import atomic_write_bytes
    from gclenet.training.robustness import evaluate_robustness, plot_robustness, robustness_markdown

    report = evaluate_robustness(args.checkpoint, args.dataset, args.root, split=args.split, families=args.families,
                                 seed=args.seed, options=_options(args.option), names=args.name,
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


def _cmd_data_check(args: argparse.Namespace) -> int:
    import json

    from gclenet.data.check import check_dataset

    report = check_dataset(args.dataset, args.root, train_split=args.train_split, test_split=args.test_split,
                           classes=args.classes, options=_options(args.option), progress=not args.json)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for split, counts in report["counts"].items():
            print(f"{split}: {sum(counts.values())} images, " + ", ".join(f"{c} {n}" for c, n in counts.items()))
        print(f"imbalance (largest/smallest training class): {report['imbalance_ratio']:.1f}"
              if report["imbalance_ratio"] else "imbalance: n/a")
        for line in report["unreadable"]:
            print(f"unreadable: {line}")
        print(f"{len(report['duplicates_across_splits'])} image(s) in both splits; "
              f"{report['duplicates_within_split']} duplicate group(s) within a split; "
              f"{len(report['subjects_in_both_splits'])} subject(s) in both splits")
        for files in report["duplicates_across_splits"][:20]:
            print("  same image: " + "  ==  ".join(files))
        if report["subjects_in_both_splits"]:
            print("  subjects on both sides: " + ", ".join(report["subjects_in_both_splits"][:20]))
    if report["leak"]:
        print("gclenet data check: train and test leak into each other (see above)", file=sys.stderr)
        return 1
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise RuntimeError("the web demo needs Gradio: pip install gradio") from None
    from gclenet.inference.recognizer import Recognizer
    from gclenet.inference.web import build_app, example_images

    app = build_app(Recognizer(args.weights, detector=args.detector), examples=example_images())
    app.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port,
                                                  max_file_size=args.max_file_size, show_error=True)
    return 0


def _versions() -> str:
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


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(_versions())
        parser.exit()


def _cmd_data_list(args: argparse.Namespace) -> int:
    import json

    from gclenet.data import get_dataset_spec, list_datasets

    specs = [get_dataset_spec(name) for name in list_datasets()]
    if args.json:
        print(json.dumps([{"name": s.name, "classes": list(s.classes), "grayscale": s.grayscale, "layout": s.layout,
                           "splits": list(s.splits)} for s in specs], indent=2))
        return 0
    for spec in specs:
        print(f"{spec.name:<10} {'gray' if spec.grayscale else 'colour':<7} {len(spec.classes)} classes, "
              f"splits {', '.join(spec.splits)}: {spec.layout}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from gclenet.data import list_datasets  # light: the readers, no torch

    datasets_help = "one of: " + ", ".join(list_datasets()) + " (`gclenet data list` says what each reads)"
    parser = argparse.ArgumentParser(prog="gclenet", description="Facial expression recognition with GCLENet.")
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show versions and exit")
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
    p.add_argument("--plot", metavar="PNG", help="also draw parameters and MACs as bar charts (paper Fig. 14-15)")
    p.set_defaults(func=_cmd_complexity)

    p = sub.add_parser("evaluate", help="metrics, confusion matrix and curves of a trained model on a data set")
    p.add_argument("--checkpoint", required=True, help="a run's .ckpt or exported .safetensors weights")
    p.add_argument("--dataset", help=datasets_help + "; default: the one the checkpoint was trained on")
    p.add_argument("--root", help="default: the checkpoint's, for the data set it was trained on")
    p.add_argument("--split", help="default: the split the checkpoint was validated on, else test")
    p.add_argument("--tta", choices=["none", "flip"], default="none", help="test-time augmentation")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast, to measure its cost")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="reader option, e.g. fold=0 (CK+); replaces the checkpoint's own, which apply by default")
    p.add_argument("--allow-overlap", action="store_true",
                   help="score a split that shares images with the training set (refused by default) and report it")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--out", help="write report.json, confusion matrices and training curves (PNG) here")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("curves", help="training curves of one run (Fig. 11), or several runs on shared axes")
    p.add_argument("runs", nargs="+", help="run folders (or their logs/metrics.csv); RUN+CONTINUATION draws a run "
                   "and one started from its checkpoint end to end. One run: train and validation accuracy and loss; "
                   "several: validation accuracy and training loss of each")
    p.add_argument("--names", nargs="*", help="legend names (default: the run folders' names)")
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True, help="PNG file")
    p.add_argument("--json", action="store_true", help="print each run's summary (epochs, final and best validation "
                   "accuracy, median epoch time and images/s) as JSON instead of a table")
    p.set_defaults(func=_cmd_curves)

    from gclenet.cli.predict import add_demo_parser, add_predict_parser

    add_predict_parser(sub)
    add_demo_parser(sub)

    p = sub.add_parser("export", help="export trained weights: safetensors, ONNX or TorchScript")
    p.add_argument("--weights", required=True, help="a run's .ckpt or exported .safetensors")
    p.add_argument("--format", choices=["safetensors", "onnx", "torchscript"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="safetensors: extra metadata")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("cam", help="Grad-CAM of gclenet (and optionally plain ResNet-34) on faces, like Fig. 13")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True, help="folder for one PNG per image")
    p.add_argument("--weights", default="default", help="the gclenet weights (default: shipped)")
    p.add_argument("--baseline", action="append",
                   help="a checkpoint to show beside it, e.g. plain ResNet-34 (repeat for more columns)")
    p.add_argument("--detector", choices=["mtcnn", "haar", "none"], default="mtcnn")
    p.add_argument("--corruption", action="append", metavar="FAMILY[@SEVERITY]",
                   help="add a row with the face corrupted, e.g. eyes, mouth, rotation@30 (as in `robustness`)")
    p.add_argument("--names", nargs="+", help="column titles: --weights' model, then each --baseline's")
    p.set_defaults(func=_cmd_cam)

    p = sub.add_parser("ablate", help="train and evaluate every variant of Table 5, 6 or 7 (resumable)")
    p.add_argument("--config", required=True)
    p.add_argument("--table", type=int, choices=[5, 6, 7], required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--budget-epochs", type=int, help="epochs per run (default: the config's)")
    p.add_argument("--out", help="where table<N>.md/.json go (default: beside the runs)")
    p.add_argument("overrides", nargs="*", help="config overrides, as for train")
    p.set_defaults(func=_cmd_ablate)

    p = sub.add_parser("robustness", help="accuracy under occlusion, pose and quality corruptions")
    p.add_argument("--checkpoint", action="append", required=True, help="repeat to compare models side by side")
    p.add_argument("--name", action="append", help="display name per checkpoint")
    p.add_argument("--dataset", required=True, help=datasets_help)
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--families", nargs="*", help="subset of: patch eyes mouth rotation hflip blur noise low_resolution")
    p.add_argument("--seed", type=int, default=0, help="corruption seed (fixed: results comparable across runs)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--allow-overlap", action="store_true",
                   help="score a split that shares images with a checkpoint's training set (refused by default)")
    p.add_argument("--out", help="write robustness.json, robustness.md and robustness.png here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_robustness)

    p = sub.add_parser("serve", help="web demo (Gradio) with an HTTP API; localhost only unless --host says so")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=7860)
    p.add_argument("--weights", default="default")
    p.add_argument("--detector", choices=["mtcnn", "haar", "none"], default="mtcnn")
    p.add_argument("--max-file-size", default="5mb", help="upload cap, e.g. 5mb")
    p.set_defaults(func=_cmd_serve)

    data = sub.add_parser("data", help="inspect data sets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("list", help="the registered data sets: classes, gray or colour, splits, layout read")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_list)

    p = data.add_parser("summary", help="images per split and class after mapping; unreadable files")
    p.add_argument("--dataset", required=True, help=datasets_help)
    p.add_argument("--root", required=True)
    p.add_argument("--classes", nargs="*", help="class list (default: the data set's)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--no-check", action="store_true", help="count files without decoding them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_summary)

    p = data.add_parser("check", help="unreadable files, train/test duplicates (exit 1 on a leak), imbalance")
    p.add_argument("--dataset", required=True, help=datasets_help)
    p.add_argument("--root", required=True)
    p.add_argument("--train-split", default="train")
    p.add_argument("--test-split", default="test")
    p.add_argument("--classes", nargs="*", help="class list (default: the data set's)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_check)
    return parser


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, FloatingPointError, OverflowError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"gclenet {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
