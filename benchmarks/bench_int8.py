"""Classifier speed and accuracy of each engine side by side: eager PyTorch fp32 and bf16
autocast, ONNX Runtime fp32 and int8 (static quantization, calibrated on training faces).

Images/s at each batch size (median of round-robin rounds, ratio to eager fp32) and, with
a validation split, accuracy and top-1 agreement with eager fp32 on every image:

    python benchmarks/bench_int8.py --weights default --calibration ../shared/data/fer2013/train \
        --dataset fer2013 --root ../shared/data/fer2013 --split test [--input-size 96] [--json out.json]

``--int8 FILE`` times an existing int8 model instead of quantising; ``--input-size``
runs the same weights at another input size (the network is fully convolutional), to
check quantisation there; ``--limit N`` validates on a fixed random subset.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gclenet.inference.autoselect import measure
from gclenet.inference.backends import TorchBackend, ort_threads
from gclenet.inference.export import export_onnx, save_weights
from gclenet.inference.quantize import calibration_images, quantize_onnx, read_onnx_metadata
from gclenet.models.weights import load, read_weights_info, resolve_weights


def _weights(name: str, input_size: int | None, tmp: Path) -> Path:
    if name.startswith("random"):
        from bench_video import _random_weights

        path = _random_weights(tmp / "random.safetensors")
    else:
        path = resolve_weights(name)
    if input_size:
        model, info = load(path)  # training form: the file keeps its branches, loaders fold it
        path = save_weights(model, info.with_metadata(input_size=input_size), tmp / f"w{input_size}.safetensors",
                            half=False)
    return path


def _ort_runner(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def probabilities(batch: np.ndarray) -> np.ndarray:
        logits = session.run(None, {name: batch})[0]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    return probabilities


def _torch_runner(backend: TorchBackend):
    def probabilities(batch: np.ndarray) -> np.ndarray:
        return backend.probabilities(torch.from_numpy(batch).contiguous(memory_format=torch.channels_last))

    return probabilities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default", help="weights file, 'default' or 'random'")
    parser.add_argument("--input-size", type=int, help="run the weights at this input size instead of theirs")
    parser.add_argument("--calibration", help="folder of training faces to calibrate int8 on")
    parser.add_argument("--calibration-count", type=int, default=300)
    parser.add_argument("--int8", help="an int8 ONNX model to time instead of quantising")
    parser.add_argument("--formats", nargs="+", default=["qdq"], choices=["qdq", "qoperator"],
                        help="quantisation formats to compare (each calibrated alike)")
    parser.add_argument("--dataset", default="fer2013")
    parser.add_argument("--root", help="data set root, for accuracy (omit: speed only)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, help="validate on a fixed random subset of N images")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (0: one per core; default: "
                        "OMP_NUM_THREADS, as PyTorch and `predict` follow it)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    args.threads = ort_threads() if args.threads is None else args.threads
    if not (args.int8 or args.calibration):
        parser.error("pass --calibration DIR (training faces) or --int8 FILE")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        weights = _weights(args.weights, args.input_size, tmp)
        info = read_weights_info(weights)
        size = info.input_size
        fp32_onnx = export_onnx(weights, tmp / "fp32.onnx")
        int8_models = {"onnxruntime int8": Path(args.int8)} if args.int8 else {}
        for fmt in [] if args.int8 else args.formats:
            name = "onnxruntime int8" + (f" {fmt}" if len(args.formats) > 1 else "")
            start = time.perf_counter()
            int8_models[name] = quantize_onnx(fp32_onnx, tmp / f"int8_{fmt}.onnx", quant_format=fmt,
                                              calibration=calibration_images(args.calibration, args.calibration_count))
            print(f"{name}: quantised in {time.perf_counter() - start:.0f} s: "
                  f"{read_onnx_metadata(int8_models[name])['gclenet_int8']}")
        fp32_backend = TorchBackend(weights, precision="fp32")
        bf16_backend = TorchBackend(weights, precision="bf16")
        runners = {"torch fp32": _torch_runner(fp32_backend), "torch bf16": _torch_runner(bf16_backend),
                   "onnxruntime fp32": _ort_runner(fp32_onnx, args.threads),
                   **{name: _ort_runner(path, args.threads) for name, path in int8_models.items()}}
        print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
              f"ORT threads {args.threads or 'default'}, input {size}x{size}, weights {Path(weights).name}")
        results: dict = {"input_size": size, "speed": {}, "accuracy": {}}
        for batch in args.batches:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
            speeds = measure(runners, lambda _: x, rounds=args.rounds, batch=batch)
            results["speed"][batch] = speeds
            base = speeds["torch fp32"]
            print(f"batch {batch:>3}: " + "  ".join(f"{n} {s:.1f}/s ({s / base:.2f}x)" for n, s in speeds.items()))
        if args.root:
            from gclenet.data.image_io import load_image
            from gclenet.data.registry import read_split

            samples = read_split(args.dataset, args.root, args.split, list(info.classes))
            if args.limit and args.limit < len(samples):
                keep = np.random.default_rng(0).choice(len(samples), args.limit, replace=False)
                samples = [samples[i] for i in sorted(keep)]
            faces = [s.source if isinstance(s.source, np.ndarray) else np.asarray(load_image(s.source, "RGB"))
                     for s in samples]
            labels = np.array([s.label for s in samples])
            transform = info.transforms()
            preds = {name: np.concatenate([run(transform.numpy_batch(faces[i : i + 64])).argmax(1)
                                           for i in range(0, len(faces), 64)]) for name, run in runners.items()}
            for name, p in preds.items():
                results["accuracy"][name] = {"accuracy": float((p == labels).mean()),
                                             "agreement_with_torch_fp32": float((p == preds["torch fp32"]).mean())}
                row = results["accuracy"][name]
                print(f"{name:<18} accuracy {100 * row['accuracy']:.2f} %  top-1 agrees with torch fp32 on "
                      f"{100 * row['agreement_with_torch_fp32']:.2f} % of {len(labels)} images")
            for name in int8_models:  # what export_int8_onnx records in the int8 file (ONNX fp32 the reference)
                agree = float((preds[name] == preds["onnxruntime fp32"]).mean())
                drop = 100 * (results["accuracy"]["onnxruntime fp32"]["accuracy"] - results["accuracy"][name]["accuracy"])
                results[f"{name} vs onnxruntime fp32"] = {"agreement": agree, "accuracy_drop_points": drop}
                print(f"{name} vs ONNX fp32: top-1 agrees on {100 * agree:.2f} %, accuracy {-drop:+.2f} points")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
