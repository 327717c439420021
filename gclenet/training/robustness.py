"""``gclenet robustness``: accuracy of trained models under fixed, seeded corruptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from gclenet.data.corruptions import CORRUPTION_FAMILIES, EYES, MOUTH, Corruption, corruption_grid
from gclenet.data import FERDataset, read_split
from gclenet.models.weights import load
from gclenet.training.evaluate import decode_grayscale
from gclenet.training.splits import EvaluationSplit, check_overlap, training_overlap

__all__ = ["evaluate_robustness", "plot_robustness", "robustness_markdown"]


@torch.inference_mode()
def _accuracy(model: torch.nn.Module, images: list[torch.Tensor], labels: torch.Tensor, transform,
              corruption: Corruption | None, seed: int, batch_size: int) -> float:
    correct = 0
    for start in range(0, len(images), batch_size):
        batch = []
        for index in range(start, min(start + batch_size, len(images))):
            image = images[index] if corruption is None else corruption(images[index], index, seed)
            batch.append(transform(image))
        logits = model(torch.stack(batch).contiguous(memory_format=torch.channels_last))
        correct += int((logits.argmax(1) == labels[start : start + len(batch)]).sum())
    return correct / len(images)


def evaluate_robustness(checkpoints: list[str | Path], dataset: str, root: str | Path, *, split: str = "test",
                        families: list[str] | None = None, seed: int = 0, batch_size: int = 128,
                        options: dict[str, Any] | None = None, names: list[str] | None = None,
                        progress: bool = True, allow_overlap: bool = False) -> dict[str, Any]:
    """Clean and corrupted accuracy of each checkpoint on the same corrupted images.

    Raises:
        ValueError: the split shares images with a checkpoint's training set (unless
            ``allow_overlap``: then each model's row names the overlap).
    """
    grid = corruption_grid(families)
    report: dict[str, Any] = {
        "dataset": dataset, "root": str(root), "split": split, "seed": seed,
        "regions": {"eyes": EYES, "mouth": MOUTH}, "units": {f: CORRUPTION_FAMILIES[f][0] for f in
                                                             {c.family for c in grid}},
        "models": {},
    }
    if names and len(names) != len(checkpoints):
        raise ValueError(f"{len(names)} name(s) for {len(checkpoints)} checkpoint(s); give one --name per --checkpoint")
    names = names or [Path(c).parent.parent.name if Path(c).suffix == ".ckpt" else Path(c).stem for c in checkpoints]
    if len(set(names)) != len(names):
        names = [f"{n}#{i}" for i, n in enumerate(names)]
    first_classes = None
    for name, checkpoint in zip(names, checkpoints):
        model, info = load(checkpoint, reparameterize=True)
        model = model.to(memory_format=torch.channels_last)
        # Corruption seeds go by image index: the models must read the very same images.
        classes = list(info.classes)
        first_classes = first_classes or classes
        if classes != first_classes:
            raise ValueError(f"{checkpoint}: classes {classes} differ from {first_classes}; robustness "
                             "compares models on the same images, so give checkpoints of one class list")
        samples = read_split(dataset, root, split, classes, **(options or {}))
        overlap = training_overlap(info, samples)
        check_overlap(overlap, EvaluationSplit(dataset, str(root), split, dict(options or {})), checkpoint,
                      allow=allow_overlap)
        data = FERDataset(samples, classes, grayscale=decode_grayscale(dataset, info), cache=True)
        images = [data.load(i) for i in range(len(data))]
        labels = torch.tensor(data.targets)
        transform = info.transforms()
        row = {"checkpoint": str(checkpoint), "samples": len(images), "overlap": overlap,
               "clean": _accuracy(model, images, labels, transform, None, seed, batch_size), "corrupted": {}}
        for corruption in tqdm(grid, desc=f"robustness {name}", disable=not progress, unit="corruption"):
            row["corrupted"][corruption.name] = _accuracy(model, images, labels, transform, corruption, seed, batch_size)
        report["models"][name] = row
    return report


def robustness_markdown(report: dict[str, Any]) -> str:
    names = list(report["models"])
    lines = ["| corruption | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append("| clean | " + " | ".join(f"{report['models'][n]['clean']:.2%}" for n in names) + " |")
    # Models differ in clean accuracy, so each cell also gives its change from the model's own clean score.
    for key in report["models"][names[0]]["corrupted"]:
        cells = []
        for n in names:
            row = report["models"][n]
            cells.append(f"{row['corrupted'][key]:.2%} ({100 * (row['corrupted'][key] - row['clean']):+.1f})")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_robustness(report: dict[str, Any], path: str | Path) -> Path:
    """Accuracy versus severity, one panel per corruption family, one line per model."""
    from gclenet.plotting import pyplot, save_figure

    plt = pyplot()

    families: dict[str, list[tuple[float, str]]] = {}
    first = next(iter(report["models"].values()))
    for key in first["corrupted"]:
        family, severity = key.split("@")
        families.setdefault(family, []).append((float(severity), key))
    top = max(max([row["clean"], *row["corrupted"].values()]) for row in report["models"].values())
    columns = min(4, len(families))
    rows = -(-len(families) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.2 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(families):]:
        ax.axis("off")
    for ax, (family, points) in zip(axes.flat, families.items()):
        for i, (name, row) in enumerate(report["models"].items()):
            colour = f"C{i}"
            xs = [0.0] + [s for s, _ in points]
            ys = [row["clean"]] + [row["corrupted"][k] for _, k in points]
            ax.plot(xs, ys, marker="o", color=colour, label=name)
        ax.set(title=family, xlabel=report["units"].get(family, "severity"), ylim=(0, min(1.0, top + 0.05)))
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("accuracy")
    # One legend for the figure, under the panels: the lines are the same in every panel.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"{report['dataset']} {report['split']}: accuracy under corruption (seed {report['seed']})")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, path)
