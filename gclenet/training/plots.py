"""Pictures of results: confusion matrices (paper Fig. 12) and training curves (Fig. 11)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from gclenet.fileio import atomic_write_bytes  # noqa: E402

__all__ = ["plot_confusion_matrix", "plot_training_curves", "read_epoch_metrics"]


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)
    return path


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
    return _save(fig, path)


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


def plot_training_curves(metrics_csv: str | Path, path: str | Path, *, title: str = "") -> Path:
    """Accuracy (solid) and loss (dashed), train and validation, per epoch: the paper's Fig. 11."""
    epochs = read_epoch_metrics(metrics_csv)
    if not epochs:
        raise ValueError(f"{metrics_csv}: no per-epoch metrics yet")
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label, color in (("train_acc", "train", "tab:green"), ("val_acc", "validation", "tab:olive")):
        xs = [e + 1 for e, m in epochs.items() if key in m]
        acc_ax.plot(xs, [epochs[x - 1][key] for x in xs], color=color, label=label, marker=".")
    for key, label, color in (("train_loss_epoch", "train", "tab:green"), ("val_loss", "validation", "tab:olive")):
        xs = [e + 1 for e, m in epochs.items() if key in m]
        loss_ax.plot(xs, [epochs[x - 1][key] for x in xs], color=color, label=label, linestyle="--", marker=".")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    for ax in (acc_ax, loss_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)
