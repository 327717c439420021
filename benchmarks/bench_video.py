"""End-to-end video analysis speed and peak memory on generated 640x480 videos.

The video shows scikit-image's astronaut face drifting over a textured background
(one face per frame). Each measurement runs `gclenet predict VIDEO --out DIR` in a
fresh process, so its peak resident memory is the process's own.

    python benchmarks/bench_video.py --minutes 1 10 --weights W [--every 1] [--fps 30]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_video(path: Path, seconds: float, fps: int) -> Path:
    import cv2
    from PIL import Image
    from skimage import data

    face = np.asarray(Image.fromarray(data.astronaut()[20:230, 140:320]).resize((150, 175)))
    rng = np.random.default_rng(0)
    background = (rng.integers(60, 200, (480, 640, 3)) // 40 * 40).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for i in range(int(seconds * fps)):
        frame = background.copy()
        x = int(240 + 180 * np.sin(i / (3 * fps)))
        y = int(150 + 80 * np.cos(i / (4 * fps)))
        frame[y : y + 175, x : x + 150] = face
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def measure(video: Path, weights: str, every: int, out: Path) -> dict:
    command = [sys.executable, "-m", "gclenet", "predict", str(video), "--weights", weights, "--out", str(out),
               "--every", str(every), "--json"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    record = json.loads(result.stdout)[0]
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    return {"frames": record["frames"], "analysed": record["frames_analysed"], "wall_s": wall,
            "fps": record["frames"] / wall, "peak_rss_mb": peak_mb, "summary": record["summary"]}


def _random_weights(path: Path) -> Path:
    from gclenet.data.classes import BASIC_CLASSES
    from gclenet.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from gclenet.inference.export import save_weights
    from gclenet.models import create_model

    info = {"classes": list(BASIC_CLASSES), "input_size": 48, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "model_name": "gclenet", "model_overrides": {}, "grayscale": True}
    return save_weights(create_model("gclenet"), info, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default",
                        help="weights file, 'default' (shipped) or 'random' (an untrained gclenet: same speed)")
    parser.add_argument("--minutes", type=float, nargs="*", default=[1.0])
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.weights == "random":
            args.weights = str(_random_weights(Path(tmp) / "random.safetensors"))
        for minutes in sorted(args.minutes):  # ascending, so each child's peak is its own
            video = make_video(Path(tmp) / f"clip_{minutes}min.mp4", minutes * 60, args.fps)
            row = measure(video, args.weights, args.every, Path(tmp) / f"out_{minutes}")
            print(f"{minutes:g} min, 640x480 @ {args.fps} fps, every {args.every}: {row['frames']} frames in "
                  f"{row['wall_s']:.1f} s = {row['fps']:.1f} frames/s end to end (incl. start-up); "
                  f"peak RSS {row['peak_rss_mb']:.0f} MB; {row['summary']}")


if __name__ == "__main__":
    main()
