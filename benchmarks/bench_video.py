"""Video analysis speed on generated 640x480 videos with 1 and 4 faces, side by side: steady
state (in process, the model warm) and end to end (a fresh `gclenet predict VIDEO --out DIR`
process: start-up, decoding, annotated MP4, CSV, plot), for each detector interval.

The videos show scikit-image's astronaut face (mirrored and shaded for the other three)
drifting over a textured background, each face in its own part of the frame. Steady state
times what a webcam needs per frame: faces detected every N frames and followed in
between, every face classified, every frame annotated; frames are decoded beforehand.
End to end also reports the child's peak resident memory, sampled over the run to show
whether it grows with the video's length.

    python benchmarks/bench_video.py --faces 1 4 --detect-every 1 5 --seconds 20 --weights default
    python benchmarks/bench_video.py --minutes 1 10 --faces 1 --detect-every 1 --weights random  # memory
    python benchmarks/bench_video.py --faces 1 --seconds 2 --weights random  # a quick check that it runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 480


def _face_images(count: int) -> list[np.ndarray]:
    """``count`` face pictures from the astronaut: the face, mirrored, darker, brighter."""
    from PIL import Image
    from skimage import data

    size = (150, 175) if count == 1 else (110, 128)
    face = np.asarray(Image.fromarray(data.astronaut()[20:230, 140:320]).resize(size)).astype(np.float32)
    variants = [face, face[:, ::-1], face * 0.75, np.minimum(face * 1.2 + 10, 255)]
    return [variants[i % len(variants)].astype(np.uint8) for i in range(count)]


def make_video(path: Path, seconds: float, fps: int, faces: int = 1) -> Path:
    """A 640x480 MP4 of ``faces`` faces moving smoothly (sines), each within its own cell of
    the frame (one cell per face: whole frame, or a 2x2 grid), so that no two overlap."""
    import cv2

    pictures = _face_images(faces)
    rng = np.random.default_rng(0)
    background = (rng.integers(60, 200, (HEIGHT, WIDTH, 3)) // 40 * 40).astype(np.uint8)
    cols = 1 if faces == 1 else 2
    rows = -(-faces // cols)
    cell_w, cell_h = WIDTH // cols, HEIGHT // rows
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    for i in range(int(seconds * fps)):
        frame = background.copy()
        for k, face in enumerate(pictures):
            h, w = face.shape[:2]
            room_x, room_y = cell_w - w, cell_h - h  # how far a face can move inside its cell
            x = (k % cols) * cell_w + int(room_x * (0.5 + 0.45 * np.sin(i / (3 * fps) + k)))
            y = (k // cols) * cell_h + int(room_y * (0.5 + 0.45 * np.cos(i / (4 * fps) + 2 * k)))
            frame[y : y + h, x : x + w] = face
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


def measure(video: Path, weights: str, every: int, out: Path, detect_every: int = 1, backend: str = "auto") -> dict:
    """End to end: `gclenet predict` on ``video`` in a fresh process; its resident memory is
    sampled twice a second."""
    command = [sys.executable, "-m", "gclenet", "predict", str(video), "--weights", weights, "--out", str(out),
               "--every", str(every), "--detect-every", str(detect_every), "--backend", backend, "--json"]
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
    quarters = {f"{q}%": max((r for t, r in samples if t <= wall * q / 100), default=0.0) for q in (25, 50, 75, 100)}
    return {"frames": record["frames"], "analysed": record["frames_analysed"], "wall_s": wall,
            "fps": record["frames"] / wall, "peak_rss_mb": peak_mb, "rss_peak_by_time_mb": quarters,
            "summary": record["summary"], "face_ids": len(record.get("faces", []))}


def _decode(video: Path) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def steady_state(frames: list[np.ndarray], weights: str, detect_every: int, backend: str = "auto", *,
                 batch: int = 8, warmup: int = 30) -> dict:
    """Frames/s of following, classifying and annotating ``frames`` in this process, after
    ``warmup`` frames (model built, caches and allocator warm); ``batch`` frames per call,
    as `predict` on a video does (1: as the webcam does)."""
    from gclenet.inference.annotate import annotate
    from gclenet.inference.recognizer import Recognizer
    from gclenet.inference.stream import FaceStream

    recognizer = Recognizer(weights, backend=backend)
    stream = FaceStream(recognizer, detect_every=detect_every)
    warmup = min(warmup, len(frames) // 2)

    def run(part: list[tuple[int, np.ndarray]]) -> int:
        faces = 0
        for i in range(0, len(part), batch):
            chunk = part[i : i + batch]
            for (_, frame), found in zip(chunk, stream.process(chunk)):
                annotate(frame, [f.shown() for f in found], bars=True)
                faces += len(found)
        return faces

    indexed = list(enumerate(frames))
    run(indexed[:warmup])
    start = time.perf_counter()
    faces = run(indexed[warmup:])
    seconds = time.perf_counter() - start
    timed = len(frames) - warmup
    backends = sorted({s.backend for s in getattr(recognizer.backend, "selections", {}).values()}) or \
        [getattr(recognizer.backend, "name", backend)]
    return {"frames": timed, "seconds": seconds, "fps": timed / seconds, "faces_per_frame": faces / max(timed, 1),
            "face_ids": len(stream.summaries()), "classifier": backends}


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
    parser.add_argument("--faces", type=int, nargs="+", default=[1, 4], choices=[1, 2, 3, 4])
    parser.add_argument("--detect-every", type=int, nargs="+", default=[1, 5],
                        help="detector intervals to compare (1: MTCNN on every frame)")
    parser.add_argument("--seconds", type=float, nargs="*", default=[], help="video lengths in seconds")
    parser.add_argument("--minutes", type=float, nargs="*", default=[], help="video lengths in minutes")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--every", type=int, default=1, help="end to end: analyse every Nth frame")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"])
    parser.add_argument("--batch", type=int, default=8, help="steady state: frames per call (1: as the webcam)")
    parser.add_argument("--no-steady", action="store_true", help="end to end only")
    parser.add_argument("--no-end-to-end", action="store_true", help="steady state only")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    lengths = sorted([s for s in args.seconds] + [60 * m for m in args.minutes]) or [10.0]
    results: list[dict] = []
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {WIDTH}x{HEIGHT} @ {args.fps} fps, weights {args.weights}, "
          f"backend {args.backend}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.weights == "random":
            args.weights = str(_random_weights(Path(tmp) / "random.safetensors"))
        for faces in args.faces:
            for seconds in lengths:  # ascending, so each child's peak is its own
                video = make_video(Path(tmp) / f"clip_{faces}f_{seconds:g}s.mp4", seconds, args.fps, faces)
                frames = None if args.no_steady or seconds != lengths[0] else _decode(video)
                base: dict[str, float] = {}
                for n in args.detect_every:
                    row = {"faces": faces, "seconds": seconds, "detect_every": n}
                    if frames is not None:
                        row["steady"] = steady_state(frames, args.weights, n, args.backend, batch=args.batch)
                    if not args.no_end_to_end:
                        row["end_to_end"] = measure(video, args.weights, args.every, Path(tmp) / f"out_{faces}_{n}",
                                                    detect_every=n, backend=args.backend)
                    results.append(row)
                    parts = []
                    for kind in ("steady", "end_to_end"):
                        if kind in row:
                            base.setdefault(kind, row[kind]["fps"])
                            parts.append(f"{kind.replace('_', ' ')} {row[kind]['fps']:.1f} frames/s "
                                         f"({row[kind]['fps'] / base[kind]:.2f}x)")
                    print(f"{faces} face(s), {seconds:g} s, detect every {n}: " + "; ".join(parts))
                    if "steady" in row:
                        s = row["steady"]
                        print(f"    steady: {s['frames']} frames in {s['seconds']:.1f} s, {s['faces_per_frame']:.2f} "
                              f"faces/frame, {s['face_ids']} face ids, classifier {', '.join(s['classifier'])}")
                    if "end_to_end" in row:
                        e = row["end_to_end"]
                        print(f"    end to end (incl. start-up): {e['frames']} frames in {e['wall_s']:.1f} s, "
                              f"{e['face_ids']} face ids, peak RSS {e['peak_rss_mb']:.0f} MB (by 25/50/75/100 % of "
                              "the run: " + " / ".join(f"{mb:.0f}" for mb in e["rss_peak_by_time_mb"].values()) +
                              f"); {e['summary']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
