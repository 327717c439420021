"""``gclenet train``, ``ablate`` and ``curves``: training runs, and their curves."""

from __future__ import annotations

import argparse

from gclenet.cli.common import add_command, datasets_help, folder, options

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "train", "train a model from a YAML config", extra="train")
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("overrides", nargs="*", help="config overrides such as optim.lr=0.01 trainer.max_epochs=5")
    p.set_defaults(func=_cmd_train)

    p = add_command(sub, "finetune", "fine-tune trained weights (ours by default) on your data, in one command",
                    extra="train")
    p.add_argument("--data", required=True, metavar="FOLDER_OR_NAME",
                   help="a folder of class folders (<class>/<images>, or {train,test}/<class>/<images>: the test "
                        "part is kept for `gclenet evaluate`), or a data set by name: " + datasets_help())
    p.add_argument("--root", help="where the named data set is")
    p.add_argument("--weights", default="default",
                   help="the weights to start from: default (our shipped weights), a shipped name, a .safetensors "
                        "file or a run's .ckpt; input size, normalisation and gray or colour are taken from them")
    p.add_argument("--classes", nargs="+", help="the classes, in order (default: the class folders, or the classes "
                   "the data set has training images of)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="reader option, e.g. fold=0 (CK+)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.01, help="peak learning rate of the cosine schedule")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--holdout", type=float, default=0.2,
                   help="fraction of the training images validated on (whole subjects where the data set knows them)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=folder, help="the run folder (default: runs/finetune_<data>)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.set_defaults(func=_cmd_finetune)

    p = add_command(sub, "ablate", "train and evaluate every variant of Table 5, 6 or 7 (resumable)", extra="train")
    p.add_argument("--config", required=True)
    p.add_argument("--table", type=int, choices=[5, 6, 7], required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--budget-epochs", type=int, help="epochs per run (default: the config's)")
    p.add_argument("--out", help="where table<N>.md/.json/.png and the finished runs' results (runs/*.json, "
                   "kept even when the run folders are gone) go (default: beside the runs)")
    p.add_argument("--second-seed-within", type=float, metavar="POINTS",
                   help="run only the first of --seeds for every variant, then a second seed for the full model "
                   "and each variant within POINTS accuracy points of it")
    p.add_argument("--second-seed", type=int, help="that second seed (default: one past the last of --seeds)")
    p.add_argument("--variants", nargs="+", metavar="NAME", help="only these variants of the table (e.g. a pilot "
                   "of the full model, gclenet, to fix the budget before the others run)")
    p.add_argument("overrides", nargs="*", help="config overrides, as for train")
    p.set_defaults(func=_cmd_ablate)

    p = add_command(sub, "curves", "training curves of one run (Fig. 11), or several runs on shared axes",
                    extra="train")
    p.add_argument("runs", nargs="+", help="run folders (or their logs/metrics.csv); RUN+CONTINUATION draws a run "
                   "and one started from its checkpoint end to end. One run: train and validation accuracy and loss; "
                   "several: validation accuracy and training loss of each")
    p.add_argument("--names", nargs="*", help="legend names (default: the run folders' names)")
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True, help="PNG file")
    p.add_argument("--json", action="store_true", help="print each run's summary (epochs, final and best validation "
                   "accuracy, median epoch time and images/s) as JSON instead of a table")
    p.set_defaults(func=_cmd_curves)


def _cmd_train(args: argparse.Namespace) -> int:
    from gclenet.training.config import load_config
    from gclenet.training.train import train

    config = load_config(args.config, args.overrides)
    best = train(config, resume=args.resume)
    print(best)
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    import sys

    from gclenet.training.finetune import finetune_config
    from gclenet.training.train import train

    config = finetune_config(args.data, root=args.root, weights=args.weights, out=args.out, classes=args.classes,
                             options=options(args.option), epochs=args.epochs, lr=args.lr,
                             batch_size=args.batch_size, holdout=args.holdout, seed=args.seed)
    data = config.data
    print(f"fine-tuning {args.weights} ({config.model.name}, {data.input_size} px, "
          f"{'gray' if data.grayscale else 'colour'}) on {data.dataset} {data.root} for {', '.join(data.classes)}; "
          f"validating on a held-out {data.holdout_fraction:.0%} of "
          f"{'its images' if data.train_split == 'all' else f'its {data.train_split} split'}; run: {config.run_dir}",
          file=sys.stderr)
    best = train(config, resume=args.resume)
    print(best)
    hints = [f"use it: gclenet predict PHOTO --weights {best}"]
    if data.val_split != data.train_split:
        hints.append(f"score it on the {data.val_split} split: gclenet evaluate --checkpoint {best}")
    elif data.holdout_fraction:
        hints.append(f"score it on the {data.holdout_fraction:.0%} it held out: gclenet evaluate --checkpoint {best}")
    hints.append(f"its config, to train again with changes (gclenet train --config): {config.run_dir / 'config.yaml'}")
    print("\n".join(hints), file=sys.stderr)
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from gclenet.training.ablation import ablation_markdown, run_ablation
    from gclenet.training.config import load_config

    summary = run_ablation(load_config(args.config, args.overrides), args.table, seeds=args.seeds,
                           budget_epochs=args.budget_epochs, out_dir=args.out,
                           second_seed_within=args.second_seed_within, second_seed=args.second_seed, only=args.variants)
    print(ablation_markdown(summary))
    return 0


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
