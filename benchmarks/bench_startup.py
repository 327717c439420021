"""Start-up of `gclenet predict photo.jpg --json` in a fresh process: wall time, where it
goes, and the floors under it (a bare interpreter, `import torch`, `import onnxruntime`).

Each measurement is a new Python process (the OS file cache is warm after the first, as
on a machine where gclenet is used). `predict` is timed as it runs by default (backend
auto: ONNX Runtime and no torch where that was measured fastest, with models beside the
weights) and with `--backend torch`. Phases are timed inside one child per path that does
what `predict` does, step by step. The first run on a machine may measure the backends
(`gclenet info` does it beforehand) and writes the folded-weights cache: run it once
before timing, or pass `--repeats` > 1 and read the later runs.

    python benchmarks/bench_startup.py [--photo P] [--weights W] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run in the child: the steps of `gclenet predict PHOTO --json`, each timed.
TORCH_PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import torch; mark("import torch")
import torchvision.ops; mark("import torchvision.ops (pulls torch._dynamo)")
import facenet_pytorch; mark("import facenet_pytorch")
from gclenet.inference.recognizer import Recognizer; mark("import gclenet.inference.recognizer")
from gclenet.inference.backends import TorchBackend
from gclenet.inference.detection import create_detector
backend = TorchBackend(WEIGHTS, precision="auto"); mark("deploy model (folded-weights cache)")
detector = create_detector("mtcnn-torch"); mark("MTCNN (facenet-pytorch) construction")
recognizer = Recognizer(WEIGHTS, backend="torch"); mark("Recognizer(backend='torch') again, all warm")
faces = recognizer.predict(PHOTO); mark("predict the photo (first call)")
faces = recognizer.predict(PHOTO); mark("predict the photo (second call)")
print(json.dumps([(name, t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])]))
"""
AUTO_PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import onnxruntime; mark("import onnxruntime")
from gclenet.inference.recognizer import Recognizer; mark("import gclenet.inference.recognizer")
recognizer = Recognizer(WEIGHTS); mark("Recognizer() (backend auto, MTCNN on ONNX Runtime)")
faces = recognizer.predict(PHOTO); mark("predict the photo (first call)")
faces = recognizer.predict(PHOTO); mark("predict the photo (second call)")
chosen = {b: s.backend for b, s in getattr(recognizer.backend, "selections", {}).items()} or recognizer.backend.name
marks.append((f"(torch imported: {'torch' in sys.modules}; classifier {chosen})", marks[-1][1]))
print(json.dumps([(name, t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])]))
"""


def _wall(command: list[str], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _phases(code: str, photo: Path, weights: str) -> list[tuple[str, float]]:
    code = code.replace("WEIGHTS", repr(weights)).replace("PHOTO", repr(str(photo)))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", help="default: scikit-image's astronaut, 512x512 JPEG")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", default="default", help="weights (with their .onnx / .int8.onnx beside them "
                        "for the ONNX Runtime path)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(args.photo) if args.photo else Path(tmp) / "astronaut.jpg"
        if not args.photo:
            from PIL import Image
            from skimage import data

            Image.fromarray(data.astronaut()).save(photo, quality=92)
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, python {sys.version.split()[0]}, photo {photo.name}; "
              f"median of {args.repeats} fresh processes:")
        predict = [sys.executable, "-m", "gclenet", "predict", str(photo), "--json", "--weights", args.weights]
        floors = {"python -c pass": [sys.executable, "-c", "pass"],
                  "python -c 'import torch'": [sys.executable, "-c", "import torch"],
                  "python -c 'import torch, torchvision.ops'": [sys.executable, "-c", "import torch, torchvision.ops"],
                  "python -c 'import onnxruntime'": [sys.executable, "-c", "import onnxruntime"],
                  "gclenet predict PHOTO --json": predict,
                  "gclenet predict PHOTO --json --backend torch": [*predict, "--backend", "torch"]}
        for name, command in floors.items():
            median, times = _wall(command, args.repeats)
            print(f"  {name:<48}{median:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times)})")
        for title, code in (("backend auto", AUTO_PHASES), ("backend torch", TORCH_PHASES)):
            print(f"phases, {title}:")
            for name, seconds in _phases(code, photo, args.weights):
                print(f"  {name:<56}{seconds:6.2f} s")


if __name__ == "__main__":
    main()
