"""Calibration and class balance of trained weights, through the public API: the temperature
fitted on faces the fit is told to use, expected calibration error and a reliability diagram
on a test split before and after, and the balance curve (accuracy, mean class accuracy and
the rare classes' recall at several ``balance`` settings), all from one pass of fp32
PyTorch over each split (``Recognizer(calibrated=False)``; the adjustment is the one every
engine's probabilities go through, ``gclenet.models.calibration``).

    python benchmarks/bench_calibration.py --weights default --root ../shared/data/ferplus \
        --fit-split train --fit-fraction 0.05 --test-split val --diagram docs/images/calibration.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gclenet.data.image_io import load_image
from gclenet.data.registry import read_split
from gclenet.fileio import atomic_write_bytes
from gclenet.models.calibration import (adjust_probabilities, expected_calibration_error, fit_temperature,
                                           reliability_bins, sample_prior)
from gclenet.inference.recognizer import Recognizer


def probabilities(recognizer: Recognizer, samples: list, batch: int = 256) -> np.ndarray:
    images = [s.source if isinstance(s.source, np.ndarray) else np.asarray(load_image(s.source, "RGB"))
              for s in samples]
    return np.concatenate([recognizer.classify(images[i : i + batch]) for i in range(0, len(images), batch)])


def scores(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    preds = probs.argmax(1)
    recall = {c: float((preds[labels == i] == i).mean()) for i, c in enumerate(classes) if (labels == i).any()}
    return {"accuracy": float((preds == labels).mean()), "mean_class_accuracy": float(np.mean(list(recall.values()))),
            "recall": recall}


def diagram(before: list[dict], after: list[dict], path: Path, title: str) -> None:
    from gclenet.plotting import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharey=True)
    for ax, bins, name in zip(axes, (before, after), ("before", "after")):
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.bar([b["low"] for b in bins], [b["accuracy"] for b in bins], width=[b["high"] - b["low"] for b in bins],
               align="edge", edgecolor="k", alpha=0.7, label="accuracy")
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "ro", ms=3, label="mean confidence")
        ax.set(title=f"{name} temperature scaling", xlabel="top probability", xlim=(0, 1), ylim=(0, 1))
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left")
    fig.suptitle(title)
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default")
    parser.add_argument("--dataset", default="ferplus")
    parser.add_argument("--root", required=True)
    parser.add_argument("--fit-split", default="train")
    parser.add_argument("--fit-fraction", type=float, default=0.05, help="a seeded random part of --fit-split")
    parser.add_argument("--test-split", default="val")
    parser.add_argument("--balance", type=float, nargs="+", default=[0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--diagram", help="write the reliability diagram (PNG) here")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    recognizer = Recognizer(args.weights, detector="none", backend="torch", precision="fp32", calibrated=False)
    classes = recognizer.classes
    train = read_split(args.dataset, args.root, args.fit_split, classes)
    prior = recognizer.class_prior or sample_prior(train, len(classes))
    fit = [train[i] for i in sorted(np.random.default_rng(42).choice(len(train), round(args.fit_fraction * len(train)),
                                                                     replace=False))]
    test = read_split(args.dataset, args.root, args.test_split, classes)
    fit_probs, test_probs = probabilities(recognizer, fit), probabilities(recognizer, test)
    fit_labels, labels = np.array([s.label for s in fit]), np.array([s.label for s in test])
    temperature = fit_temperature(fit_probs, fit_labels)
    calibrated = adjust_probabilities(test_probs, temperature=temperature)
    results = {
        "weights": args.weights, "fit": f"{args.dataset} {args.fit_split}, {len(fit)} faces (seed 42)",
        "test": f"{args.dataset} {args.test_split}, {len(test)} faces", "temperature": temperature,
        "record_temperature": read_temperature(args.weights),
        "ece_before": expected_calibration_error(test_probs, labels),
        "ece_after": expected_calibration_error(calibrated, labels),
        "ece_with_record_temperature": expected_calibration_error(
            adjust_probabilities(test_probs, temperature=read_temperature(args.weights)), labels),
        "mean_top_probability_before": float(test_probs.max(1).mean()),
        "mean_top_probability_after": float(calibrated.max(1).mean()),
        # as Recognizer(balance=b) answers: after the temperature in the weights' record
        "balance": {str(b): scores(adjust_probabilities(test_probs, temperature=read_temperature(args.weights),
                                                        prior=prior, balance=b),
                                   labels, classes) for b in args.balance},
    }
    print(f"temperature {temperature:.3f} (fitted on {results['fit']}); {results['test']}: ECE (15 bins) "
          f"{results['ece_before']:.2%} -> {results['ece_after']:.2%}, mean top probability "
          f"{results['mean_top_probability_before']:.3f} -> {results['mean_top_probability_after']:.3f}, "
          f"accuracy {scores(test_probs, labels, classes)['accuracy']:.4f}; with the record's temperature "
          f"{results['record_temperature']:.3f}: ECE {results['ece_with_record_temperature']:.2%}")
    rare = [c for c in ("disgust", "contempt", "fear") if c in classes]
    print("balance  accuracy  mean class  " + "  ".join(f"{c:>8}" for c in rare))
    for b, row in results["balance"].items():
        print(f"{b:>7}  {row['accuracy']:.4f}    {row['mean_class_accuracy']:.4f}      "
              + "  ".join(f"{row['recall'].get(c, float('nan')):8.3f}" for c in rare))
    if args.diagram:  # what users get: the record's temperature where the weights have one
        shown = results["record_temperature"] if results["record_temperature"] != 1.0 else temperature
        after = adjust_probabilities(test_probs, temperature=shown)
        diagram(reliability_bins(test_probs, labels), reliability_bins(after, labels), Path(args.diagram),
                f"{results['test']}: ECE {results['ece_before']:.1%} -> "
                f"{expected_calibration_error(after, labels):.1%} (temperature {shown:.3f})")
    if args.json:
        atomic_write_bytes(args.json, lambda handle: handle.write(json.dumps(results, indent=2).encode()))


def read_temperature(weights: str) -> float:
    from gclenet.models import read_weights_info

    return read_weights_info(weights).temperature


if __name__ == "__main__":
    main()
