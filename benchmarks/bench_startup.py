"""Start-up of `gclenet predict photo.jpg --json` in a fresh process: wall time, where it
goes, and the floors under it (a bare interpreter, `import torch`).

Each measurement is a new Python process (the OS file cache is warm after the first, as
on a machine where gclenet is used). Phases are timed inside one child that does what
`predict` does, step by step; `--deploy-cache` adds the same child with the deploy
model loaded from the folded-weights cache (gclenet.inference.deploy) instead.

    python benchmarks/bench_startup.py [--photo P] [--repeats 5] [--deploy-cache]
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

# Runs in the child: the steps of `gclenet predict PHOTO --json`, each timed.
PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import torch; mark("import torch")
import torchvision.ops; mark("import torchvision.ops (pulls torch._dynamo)")
import facenet_pytorch; mark("import facenet_pytorch")
from gclenet.inference.recognizer import Recognizer; mark("import gclenet.inference.recognizer")
from gclenet.inference.backends import TorchBackend
from gclenet.inference.detection import create_detector
if DEPLOY_CACHE:
    from gclenet.inference.deploy import load_deploy_model
    model, info = load_deploy_model("default"); mark("deploy model from the folded cache")
else:
    backend = TorchBackend("default", precision="auto"); mark("build training-form model + fold")
detector = create_detector("mtcnn"); mark("MTCNN construction")
if not DEPLOY_CACHE:
    recognizer = Recognizer("default"); mark("Recognizer() again, all warm (for reference)")
    faces = recognizer.predict(PHOTO); mark("predict the photo (first call)")
    faces = recognizer.predict(PHOTO); mark("predict the photo (second call)")
print(json.dumps([(name, t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])]))
"""


def _wall(command: list[str], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _phases(photo: Path, deploy_cache: bool) -> list[tuple[str, float]]:
    code = PHASES.replace("DEPLOY_CACHE", repr(deploy_cache)).replace("PHOTO", repr(str(photo)))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", help="default: scikit-image's astronaut, 512x512 JPEG")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--deploy-cache", action="store_true", help="also time the folded-weights cache path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(args.photo) if args.photo else Path(tmp) / "astronaut.jpg"
        if not args.photo:
            from PIL import Image
            from skimage import data

            Image.fromarray(data.astronaut()).save(photo, quality=92)
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, python {sys.version.split()[0]}, photo {photo.name}; "
              f"median of {args.repeats} fresh processes:")
        floors = {"python -c pass": [sys.executable, "-c", "pass"],
                  "python -c 'import torch'": [sys.executable, "-c", "import torch"],
                  "python -c 'import torch, torchvision.ops'": [sys.executable, "-c", "import torch, torchvision.ops"],
                  "gclenet predict PHOTO --json": [sys.executable, "-m", "gclenet", "predict", str(photo), "--json"]}
        for name, command in floors.items():
            median, times = _wall(command, args.repeats)
            print(f"  {name:<44}{median:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times)})")
        for deploy_cache in [False] + ([True] if args.deploy_cache else []):
            if deploy_cache:
                _phases(photo, True)  # the first run writes the cache
            print("phases" + (" (deploy model from the folded cache)" if deploy_cache else "") + ":")
            for name, seconds in _phases(photo, deploy_cache):
                print(f"  {name:<52}{seconds:6.2f} s")


if __name__ == "__main__":
    main()
