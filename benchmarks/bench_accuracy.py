"""Accuracy through the public API, as a user gets it: `Recognizer(detector="none")` on a
data set split of already-cropped faces (e.g. FER2013's PublicTest), several settings side
by side: PyTorch fp32, bf16 autocast, flip TTA, ONNX Runtime fp32 (exported here) and int8
(the model beside the weights, or --int8 FILE), and `auto` (what `predict` uses). Reports
top-1 accuracy, how often each setting's top-1 differs from the first setting's, and images/s.

    python benchmarks/bench_accuracy.py --dataset fer2013 --root ../shared/data/fer2013 --split test \
        --weights default --settings fp32 bf16 fp32+tta onnxruntime int8 auto
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from gclenet.data.image_io import load_image
from gclenet.data.registry import read_split
from gclenet.fileio import atomic_write_bytes
from gclenet.inference.recognizer import Recognizer


def _recognizer(weights: str, setting: str, tmp: Path, int8: str | None) -> Recognizer:
    if setting == "onnxruntime":
        from gclenet.inference.export import export_onnx

        onnx_path = export_onnx(weights, tmp / "model.onnx")
        return Recognizer(weights, detector="none", backend="onnxruntime", onnx_path=onnx_path)
    if setting == "int8":
        return Recognizer(weights, detector="none", backend="onnxruntime", precision="int8", onnx_path=int8)
    if setting in ("auto", "auto+tta"):
        return Recognizer(weights, detector="none", tta=setting == "auto+tta")
    precision, _, tta = setting.partition("+")
    return Recognizer(weights, detector="none", backend="torch", precision=precision, tta=tta == "tta")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fer2013")
    parser.add_argument("--root", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--weights", default="default")
    parser.add_argument("--settings", nargs="+", default=["fp32", "bf16"],
                        help="fp32, bf16, fp32+tta, bf16+tta (PyTorch), onnxruntime (fp32 ONNX), int8, auto, auto+tta")
    parser.add_argument("--int8", help="the int8 ONNX model for the int8 setting (default: beside the weights)")
    parser.add_argument("--batch", type=int, default=256, help="images per predict_batch call")
    parser.add_argument("--limit", type=int, help="a fixed random subset of N images (a quick look)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    samples = None
    with tempfile.TemporaryDirectory() as tmp:
        results, reference = {}, None
        for setting in args.settings:
            recognizer = _recognizer(args.weights, setting, Path(tmp), args.int8)
            if samples is None:
                samples = read_split(args.dataset, args.root, args.split, recognizer.classes)
                if args.limit and args.limit < len(samples):
                    keep = np.random.default_rng(0).choice(len(samples), args.limit, replace=False)
                    samples = [samples[i] for i in sorted(keep)]
                labels = np.array([s.label for s in samples])
                images = [s.source if isinstance(s.source, np.ndarray) else np.asarray(load_image(s.source, "RGB"))
                          for s in samples]
            start = time.perf_counter()
            preds = []
            for i in range(0, len(images), args.batch):
                for faces in recognizer.predict_batch(images[i : i + args.batch]):
                    preds.append(recognizer.classes.index(faces[0].label))
            seconds = time.perf_counter() - start
            preds = np.array(preds)
            reference = preds if reference is None else reference
            results[setting] = {"accuracy": float((preds == labels).mean()), "images": len(preds),
                                "top1_differs_from_first": float((preds != reference).mean()),
                                "images_per_s": len(preds) / seconds}
            row = results[setting]
            print(f"{setting:<12} accuracy {row['accuracy']:.4f}  top-1 differs from {args.settings[0]} on "
                  f"{row['top1_differs_from_first']:.2%}  {row['images_per_s']:.0f} images/s  ({len(preds)} images)")
    if args.json:
        atomic_write_bytes(args.json, lambda handle: handle.write(json.dumps(results, indent=2).encode()))


if __name__ == "__main__":
    main()
