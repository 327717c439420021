"""The self-check's figures: each engine's probabilities on the check faces, against eager fp32.

    python benchmarks/bench_selfcheck.py --out native.json --torch W.int8.onnx other.int8.onnx
    qemu-x86_64 -cpu Haswell .venv/bin/python benchmarks/bench_selfcheck.py --out avx2.json W.int8.onnx
    python benchmarks/bench_selfcheck.py --compare native.json avx2.json

The second line runs ONNX Runtime as on an AVX2-only CPU (QEMU user mode emulates the CPU's
instruction set; torch is left out there: it is slow under emulation and the reference is native).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from gclenet.inference.selfcheck import check_faces, compare_probabilities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write each engine's probabilities here (JSON)")
    parser.add_argument("models", nargs="*", help="ONNX models to run")
    parser.add_argument("--weights", default="default")
    parser.add_argument("--torch", action="store_true", help="also eager fp32 (the reference) and bf16")
    parser.add_argument("--compare", nargs=2, metavar=("REFERENCE_JSON", "OTHER_JSON"),
                        help="compare OTHER's engines with REFERENCE's torch-fp32")
    args = parser.parse_args()
    if args.compare:
        reference = np.array(json.load(open(args.compare[0]))["torch-fp32"])
        for name, probs in json.load(open(args.compare[1])).items():
            print(f"{name}: {compare_probabilities(reference, np.array(probs)).describe()}")
        return
    from gclenet.inference.backends import OnnxRuntimeBackend

    faces, out = check_faces(), {}
    if args.torch:
        from gclenet.inference.backends import TorchBackend

        for precision in ("fp32", "bf16"):
            out[f"torch-{precision}"] = TorchBackend(args.weights, precision=precision).classify(faces).tolist()
    for model in args.models:
        out[model] = OnnxRuntimeBackend(args.weights, onnx_path=model, threads=1).classify(faces).tolist()
    with open(args.out, "w") as handle:
        json.dump(out, handle)
    if "torch-fp32" in out:
        reference = np.array(out["torch-fp32"])
        for name, probs in out.items():
            print(f"{name}: {compare_probabilities(reference, np.array(probs)).describe()}")


if __name__ == "__main__":
    main()
