"""Classifier throughput of the deploy model: eager PyTorch versus ONNX Runtime, side by side.

    python benchmarks/bench_backends.py --weights random      # or a weights file / 'default'
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gclenet.inference.backends import OnnxRuntimeBackend, TorchBackend
from gclenet.inference.export import export_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights == "random":
            from bench_video import _random_weights

            weights = _random_weights(Path(tmp) / "random.safetensors")
        elif weights == "default":
            from gclenet.inference.recognizer import default_weights_path

            weights = default_weights_path()
        onnx_path = export_onnx(weights, Path(tmp) / "model.onnx")
        backends = {"torch (eager, fp32)": TorchBackend(weights, precision="fp32"),
                    "onnxruntime (CPU EP)": OnnxRuntimeBackend(weights, onnx_path=onnx_path)}
        size = backends["torch (eager, fp32)"].info.input_size
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {size}x{size}")
        for batch in args.batches:
            x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
            iters = max(1, 64 // batch)
            times = {name: [] for name in backends}
            for backend in backends.values():
                backend.probabilities(x)
            for _ in range(args.rounds):  # round-robin
                for name, backend in backends.items():
                    start = time.perf_counter()
                    for _ in range(iters):
                        backend.probabilities(x)
                    times[name].append((time.perf_counter() - start) / iters)
            for name, t in times.items():
                print(f"  batch {batch:>3}  {name:<24}{batch / statistics.median(t):>9.1f} images/s")


if __name__ == "__main__":
    main()
