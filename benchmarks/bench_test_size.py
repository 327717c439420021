"""Accuracy of trained weights when their faces are resized to other input sizes at test time
(no training): how tied the weights' features are to one face scale, e.g. before a cycle at
another resolution. Faces go through the weights' own evaluation transform, then a bilinear
resize of the batch to each size; fp32 PyTorch.

    python benchmarks/bench_test_size.py --weights default --config configs/ferplus_cycle3.yaml \
        --sizes 48 56 64 72 96

With ``--config``, the faces are that run's validation faces (its held-out part of the training
split where it holds one out); else ``--dataset/--root/--split``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from gclenet.data.image_io import load_image
from gclenet.data.registry import read_split
from gclenet.fileio import atomic_write_bytes
from gclenet.inference.recognizer import Recognizer


def _samples(args: argparse.Namespace, classes: list[str]) -> list:
    if args.config:
        from gclenet.training.config import load_config
        from gclenet.training.datamodule import select_samples

        config = load_config(args.config)
        return select_samples(config.data, classes, seed=config.seed, train=False)
    return read_split(args.dataset, args.root, args.split, classes=classes)


def accuracy_at_sizes(recognizer: Recognizer, samples: list, sizes: list[int], batch: int = 256) -> dict[int, dict]:
    """Top-1 and mean class accuracy of ``recognizer``'s PyTorch model at each test size."""
    images = [s.source if isinstance(s.source, np.ndarray) else np.asarray(load_image(s.source, "RGB"))
              for s in samples]
    labels = np.array([s.label for s in samples])
    inputs = recognizer.preprocess(images)
    model = recognizer.model.eval()
    results = {}
    for size in sizes:
        with torch.inference_mode():
            preds = np.concatenate([
                model(F.interpolate(inputs[i : i + batch], size=(size, size), mode="bilinear", align_corners=False)
                      if size != inputs.shape[-1] else inputs[i : i + batch]).argmax(1).numpy()
                for i in range(0, len(inputs), batch)])
        recall = [float((preds[labels == c] == c).mean()) for c in range(len(recognizer.classes)) if (labels == c).any()]
        results[size] = {"accuracy": float((preds == labels).mean()), "mean_class_accuracy": float(np.mean(recall))}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default")
    parser.add_argument("--config", help="a training config: score its validation (held-out) faces")
    parser.add_argument("--dataset", default="ferplus")
    parser.add_argument("--root", default="../shared/data/ferplus")
    parser.add_argument("--split", default="val")
    parser.add_argument("--sizes", nargs="+", type=int, default=[48, 56, 64, 72, 96])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    recognizer = Recognizer(args.weights, detector="none", backend="torch", precision="fp32")
    samples = _samples(args, list(recognizer.classes))
    print(f"{len(samples)} faces; weights trained at {recognizer.info.input_size} px")
    results = accuracy_at_sizes(recognizer, samples, args.sizes)
    print("| test size | accuracy | mean class accuracy |\n|---|---|---|")
    for size, r in results.items():
        print(f"| {size} px | {r['accuracy']:.2%} | {r['mean_class_accuracy']:.2%} |")
    if args.json:
        atomic_write_bytes(args.json, json.dumps({str(k): v for k, v in results.items()}, indent=2).encode())


if __name__ == "__main__":
    main()
