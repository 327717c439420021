"""End-to-end video analysis speed and peak memory on generated 640x480 videos.

The video shows scikit-image's astronaut face drifting over a textured background
(one face per frame). Each measurement runs `gclenet predict VIDEO --out DIR` in a
fresh process, so its peak resident memory is the process's own; its memory is also
sampled over the run, to show whether it grows with the video's length.

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


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # the process has just ended
        return None
    return None


def measure(video: Path, weights: str, every: int, out: Path) -> dict:
    """Run `gclenet predict` on ``video``; its resident memory is sampled twice a second."""
    command = [sys.executable, "-m", "gclenet", "predict", str(video), "--weights", weights, "--out", str(out),
               "--every", str(every), "--json"]
    start = time.perf_counter()
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True)
        while child.poll() is None:
            rss = _rss_mb(child.pid)
            if rss is not None:
                samples.append((time.perf_counter() - start, rss))
            time.sleep(0.5)
        wall = time.perf_counter() - start
        stdout.seek(0), stderr.seek(0)
        if child.returncode != 0:
            raise RuntimeError(stderr.read()[-2000:])
        record = json.loads(stdout.read())[0]
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    quarters = {f"{q}%": max(r for t, r in samples if t <= wall * q / 100) for q in (25, 50, 75, 100)}
    return {"frames": record["frames"], "analysed": record["frames_analysed"], "wall_s": wall,
            "fps": record["frames"] / wall, "peak_rss_mb": peak_mb, "rss_peak_by_time_mb": quarters,
            "summary": record["summary"]}


def _random_weights(path: Path) -> Path:
    from gclenet.data.classes import BASIC_CLASSES
    from gclenet.inference.export import save_weights
    from gclenet.models import WeightsInfo, create_model

    info = WeightsInfo(model_name="gclenet", classes=BASIC_CLASSES, input_size=48, grayscale=True)
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
            print("    peak RSS up to 25/50/75/100 % of the run: "
                  + " / ".join(f"{mb:.0f}" for mb in row["rss_peak_by_time_mb"].values()) + " MB")


if __name__ == "__main__":
    main()
