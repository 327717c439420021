"""Pictures of results: training curves (paper Fig. 11), confusion matrices (Fig. 12),
parameters and MACs per variant (Fig. 14-15)."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from gclenet.plotting import pyplot, save_figure

plt = pyplot()  # files only; never needs a display

__all__ = ["plot_complexity", "plot_confusion_matrix", "plot_run_comparison", "plot_training_curves",
           "read_epoch_metrics", "chain_epoch_metrics", "summarize_run"]

MetricsFiles = str | Path | list[str | Path]


def plot_confusion_matrix(matrix: list[list[float]], classes: list[str], path: str | Path, *, title: str = "",
                          normalized: bool = True) -> Path:
    """Rows = true class, columns = predicted; cells annotated (fractions or counts)."""
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(classes), 0.8 + 0.7 * len(classes)))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalized else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=45, ha="right")
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            text = f"{value:.2f}" if normalized else f"{int(value)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 * (1 if normalized else peak) else "black")
    ax.set_title(title or ("confusion matrix (row-normalised)" if normalized else "confusion matrix (counts)"))
    return save_figure(fig, path)


def read_epoch_metrics(metrics_csv: str | Path) -> dict[int, dict[str, float]]:
    """Per-epoch values of a Lightning ``CSVLogger`` file (rows merged by epoch)."""
    epochs: dict[int, dict[str, float]] = defaultdict(dict)
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if value not in ("", None) and key not in ("epoch", "step"):
                    epochs[epoch][key] = float(value)
    return dict(sorted(epochs.items()))


_EPOCH_END_KEYS = {"val_acc", "train_loss_epoch", "train_epoch_s"}


def chain_epoch_metrics(metrics_csvs: MetricsFiles) -> tuple[dict[int, dict[str, float]], list[int]]:
    """Per-epoch values of a run and its continuations (e.g. a second cycle started from its
    last checkpoint), numbered on from each other; also the epochs where each continuation starts."""
    files = metrics_csvs if isinstance(metrics_csvs, list) else [metrics_csvs]
    chained: dict[int, dict[str, float]] = {}
    starts = []
    for metrics_csv in files:
        epochs = read_epoch_metrics(metrics_csv)
        while epochs and not _EPOCH_END_KEYS & epochs[max(epochs)].keys():  # cut off before its end, or running
            del epochs[max(epochs)]
        if not epochs:
            raise ValueError(f"{metrics_csv}: no per-epoch metrics yet")
        offset = len(chained)
        if chained:
            starts.append(offset)
        chained.update({offset + i: values for i, values in enumerate(epochs.values())})
    return chained, starts


def summarize_run(metrics_csvs: MetricsFiles) -> dict:
    """What a results table reports of a run (and its continuations): epochs, final and best
    validation accuracy, and the medians of the logged epoch time and training images/s.

    Medians, because a paused or resumed epoch logs its wall time, pauses included; runs
    logged before those columns existed give ``None`` for them.
    """
    epochs, starts = chain_epoch_metrics(metrics_csvs)
    val = {e + 1: m["val_acc"] for e, m in epochs.items() if "val_acc" in m}
    seconds = [m["train_epoch_s"] for m in epochs.values() if "train_epoch_s" in m]
    speed = [m["train_images_per_s"] for m in epochs.values() if "train_images_per_s" in m]
    best = max(val, key=val.get) if val else None
    return {
        "epochs": len(epochs),
        "cycle_starts": [s + 1 for s in starts],
        "final_val_acc": val[max(val)] if val else None,
        "best_val_acc": val[best] if val else None,
        "best_epoch": best,
        "val_acc": [round(val[e], 4) for e in sorted(val)],
        "epochs_timed": len(seconds),
        "median_train_epoch_s": statistics.median(seconds) if seconds else None,
        "median_train_images_per_s": statistics.median(speed) if speed else None,
    }


def _mark_continuations(axes: tuple[plt.Axes, ...], starts: list[int]) -> None:
    for ax in axes:
        for start in starts:
            ax.axvline(start + 0.5, color="grey", linestyle=":", linewidth=1)


def _save_epoch_axes(fig: plt.Figure, acc_ax: plt.Axes, loss_ax: plt.Axes, path: str | Path, title: str,
                     subtitles: tuple[str, str]) -> Path:
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title=subtitles[0])
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title=subtitles[1])
    for ax in (acc_ax, loss_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_training_curves(metrics_csv: MetricsFiles, path: str | Path, *, title: str = "") -> Path:
    """Accuracy (solid) and loss (dashed), train and validation, per epoch: the paper's Fig. 11.

    A list of files is one run and its continuations, drawn end to end (dotted line at each start).
    """
    epochs, starts = chain_epoch_metrics(metrics_csv)
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label, color in (("train_acc", "train", "tab:green"), ("val_acc", "validation", "tab:olive")):
        xs = [e + 1 for e, m in epochs.items() if key in m]
        acc_ax.plot(xs, [epochs[x - 1][key] for x in xs], color=color, label=label, marker=".")
    for key, label, color in (("train_loss_epoch", "train", "tab:green"), ("val_loss", "validation", "tab:olive")):
        xs = [e + 1 for e, m in epochs.items() if key in m]
        loss_ax.plot(xs, [epochs[x - 1][key] for x in xs], color=color, label=label, linestyle="--", marker=".")
    _mark_continuations((acc_ax, loss_ax), starts)
    return _save_epoch_axes(fig, acc_ax, loss_ax, path, title, ("accuracy", "loss"))


def plot_run_comparison(runs: dict[str, MetricsFiles], path: str | Path, *, title: str = "") -> Path:
    """Validation accuracy and training loss per epoch of several runs on shared axes
    (a list of files is one run and its continuations)."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    all_starts: set[int] = set()
    for name, metrics_csv in runs.items():
        epochs, starts = chain_epoch_metrics(metrics_csv)
        all_starts.update(starts)
        for ax, key in ((acc_ax, "val_acc"), (loss_ax, "train_loss_epoch")):
            xs = [e + 1 for e, m in epochs.items() if key in m]
            label = name
            if key == "val_acc" and xs:  # the final value: what the run ends with, not its best epoch
                label = f"{name} (final {epochs[xs[-1] - 1][key]:.1%})"
            ax.plot(xs, [epochs[x - 1][key] for x in xs], marker=".", label=label)
    _mark_continuations((acc_ax, loss_ax), sorted(all_starts))
    return _save_epoch_axes(fig, acc_ax, loss_ax, path, title, ("validation accuracy", "training loss"))


def plot_complexity(rows: list[dict], paper: dict[str, dict], path: str | Path, *, input_size: int = 224) -> Path:
    """Bars of parameters (Fig. 14) and MACs (Fig. 15) per variant, ours beside the paper's.

    ``rows`` are :meth:`VariantComplexity.to_dict` records; ``paper`` maps a variant to
    ``params_m`` / ``flops_m`` (None where the paper gives no number).
    """
    names = [r["name"] for r in rows]
    xs = range(len(names))
    fig, (params_ax, macs_ax) = plt.subplots(1, 2, figsize=(12, 4.2))
    deploy = "ours, deploy (fused)"
    panels = (
        (params_ax, "parameters (M)", "params_m", [("ours, training", [r["params"] / 1e6 for r in rows], "tab:gray"),
                                                   (deploy, [r["params_deploy"] / 1e6 for r in rows], "tab:blue")]),
        (macs_ax, f"MACs at {input_size}x{input_size} (M)", "flops_m",
         [(deploy, [r["macs_deploy"] / 1e6 for r in rows], "tab:blue")]),
    )
    for ax, label, key, columns in panels:
        paper_values = [paper.get(n, {}).get(key) for n in names]
        if input_size == 224 and any(v is not None for v in paper_values):  # the paper measured at 224 only
            columns = [*columns, ("paper (thop)", [v or 0.0 for v in paper_values], "tab:orange")]
        width = 0.8 / len(columns)
        for i, (legend, values, color) in enumerate(columns):
            offsets = [x + (i - (len(columns) - 1) / 2) * width for x in xs]
            bars = ax.bar(offsets, values, width, label=legend, color=color)
            ax.bar_label(bars, labels=["n/a" if not v else f"{v:.2f}" if v < 100 else f"{v:.0f}" for v in values],
                         fontsize=7, rotation=90, padding=2)
        low = min(v for _, values, _ in columns for v in values if v)
        high = max(v for _, values, _ in columns for v in values)
        ax.set_ylim(low * 0.97, high * 1.03)  # the differences are a few per cent: do not start at zero
        ax.set_xticks(list(xs), names, rotation=15)
        ax.set(ylabel=label, title=label + " (axis does not start at 0)")
        ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path)
