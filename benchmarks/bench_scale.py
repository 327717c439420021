"""Plain ``predict`` against the Ray runner on one machine: images/s and peak memory.

On a folder of generated FER-sized faces (``--detector none``: what is measured is the
pipeline, not the detector), each in a fresh process with one thread per worker:

* plain ``gclenet predict DIR`` (one process, ``OMP_NUM_THREADS=1``);
* the Ray runner with 1 worker and with 2 workers (a local Ray cluster of ``--cpus`` CPUs);
* the Ray runner's driver on ``--small`` and ``--large`` inputs (its memory must not grow
  with the number of inputs: the results go to Parquet parts, not through the driver).

Images/s counts from the start of work (Ray started, timed apart; the models' loading
counted in) to its end; "steady" from the moment each worker has finished a part to the
end (without start-up). Peak RSS: the driver's own (VmHWM), and the largest Ray worker's.

    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py --images 3000 --small 2000 --large 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: prints one JSON line with its own timings and peak RSS.
PLAIN = """
import io, contextlib, json, sys, time
from gclenet.cli.main import main
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["predict", {folder!r}, "--detector", "none", "--backend", {backend!r},
                 "--precision", {precision!r}])
run_s = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({{"code": code, "run_s": run_s, "init_s": 0.0, "driver_rss_mb": hwm / 1024}}))
"""
RAY = """
import json, time, ray
from gclenet.inference.distributed import recognise_on_ray
from gclenet.inference.sources import expand_inputs
start = time.perf_counter()
ray.init(num_cpus={cpus}, include_dashboard=False, logging_level="ERROR")
init_s = time.perf_counter() - start
files, _ = expand_inputs([{folder!r}])
start = time.perf_counter()
summary = recognise_on_ray([str(f) for f in files], {out!r}, {{"weights": "default", "detector": "none",
                           "backend": {backend!r}, "precision": {precision!r}}}, workers={workers}, threads=1,
                           progress=False)
run_s = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({{"code": 0, "run_s": run_s, "init_s": init_s, "driver_rss_mb": hwm / 1024,
                  "processed": summary.processed}}))
"""


def write_faces(folder: Path, count: int) -> Path:
    """``count`` 48 px face-like crops (blurred noise), 500 to a sub-folder."""
    from PIL import ImageFilter

    rng = np.random.default_rng(0)
    for i in range(count):
        path = folder / f"{i // 500:03d}" / f"face_{i:06d}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            noise = Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
            noise.filter(ImageFilter.GaussianBlur(2)).save(path)
    return folder


class WorkerMemory(threading.Thread):
    """The largest peak RSS (VmHWM) of any Ray worker running the Recognizer, sampled while it lives."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb, self.done = 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if b"RecognizerWorker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:  # gone meanwhile
                    continue
                hwm = next((int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM")), 0)
                self.peak_mb = max(self.peak_mb, hwm / 1024)


def steady_rate(out: Path, workers: int) -> float:
    """Images/s once every worker has finished a part: without Ray's and the models' start-up
    (from the ``workers``-th part's file time to the last's)."""
    import pyarrow.parquet as pq

    parts = sorted(out.glob("part-*.parquet"), key=lambda p: p.stat().st_mtime)
    if len(parts) <= workers:
        return float("nan")
    rows = sum(len(set(pq.read_table(p, columns=["file"])["file"].to_pylist())) for p in parts[workers:])
    return rows / (parts[-1].stat().st_mtime - parts[workers - 1].stat().st_mtime)


def measure(code: str, images: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    memory = WorkerMemory()
    memory.start()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    memory.done.set()
    memory.join()
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    row = json.loads(result.stdout.strip().splitlines()[-1])
    return {**row, "images_per_s": images / row["run_s"], "worker_rss_mb": memory.peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000, help="inputs of the speed comparison")
    parser.add_argument("--small", type=int, default=2000, help="inputs of the driver memory's smaller run")
    parser.add_argument("--large", type=int, default=20000, help="... and of its larger one (0: skip)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="the local Ray cluster's CPUs")
    # Not auto: where its cached timings are stale (taken on a busy machine), every worker would
    # time the engines again at once, beside the others, and might each pick another one.
    parser.add_argument("--backend", default="onnxruntime", help="the classifier backend, the same for every run")
    parser.add_argument("--precision", default="int8", help="... and its precision (int8: what auto picks on "
                        "an AMX Xeon for the shipped weights)")
    parser.add_argument("--data", help="keep the generated faces here (default: a temporary folder)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    engine = {"backend": args.backend, "precision": args.precision}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data or tmp)
        speed = write_faces(data / f"faces_{args.images}", args.images)
        rows: dict[str, dict] = {}
        # Untimed first: files in the page cache, folded weights in gclenet's cache, for every run alike.
        measure(PLAIN.format(folder=str(write_faces(data / "warmup", 64)), **engine), 64)
        rows["plain"] = measure(PLAIN.format(folder=str(speed), **engine), args.images)
        for workers in (1, 2):
            out = Path(tmp) / f"out_{workers}"
            rows[f"ray_{workers}w"] = measure(RAY.format(cpus=args.cpus, folder=str(speed), **engine,
                                                         out=str(out), workers=workers), args.images)
            rows[f"ray_{workers}w"]["steady_images_per_s"] = steady_rate(out, workers)
        for size in (args.small, args.large) if args.large else ():
            folder = write_faces(data / f"faces_{size}", size)
            rows[f"ray_2w_{size}"] = measure(RAY.format(cpus=args.cpus, folder=str(folder), **engine,
                                                        out=str(Path(tmp) / f"mem_{size}"), workers=2), size)
    print(f"{'run':<16}{'images/s':>10}{'steady':>8}{'Ray start s':>13}{'driver MB':>11}{'worker MB':>11}")
    for name, row in rows.items():
        print(f"{name:<16}{row['images_per_s']:>10.1f}{row.get('steady_images_per_s', float('nan')):>8.1f}"
              f"{row['init_s']:>13.1f}{row['driver_rss_mb']:>11.0f}{row['worker_rss_mb']:>11.0f}")
    one, two, plain = (rows[k]["images_per_s"] for k in ("ray_1w", "ray_2w", "plain"))
    print(f"2 workers / 1 worker: {two / one:.2f}x (wanted >= 1.6); 2 workers / plain: {two / plain:.2f}x "
          "(wanted >= 1)")
    if args.large:
        small, large = rows[f"ray_2w_{args.small}"], rows[f"ray_2w_{args.large}"]
        print(f"driver peak RSS, {args.large} / {args.small} inputs: "
              f"{large['driver_rss_mb'] / small['driver_rss_mb']:.2f}x (wanted <= 1.2)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
