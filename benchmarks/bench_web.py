"""The web demo under load: API requests from concurrent clients, errors, latency and server memory.

Starts `gclenet serve` in its own process on a free loopback port and sends requests with
`gradio_client` (the same call any program would make), from ``--clients`` threads with a
client each. The server's resident memory is read from /proc after request 1, after every
``--rss-every`` requests and once a second. Sequential, one photo:

    python benchmarks/bench_web.py --requests 50 --weights W [--detector mtcnn] [--json FILE]

A soak: 8 clients, photos with a face (the demo photo and crops, flips, rescales, grey and
PNG copies of it) and, every ``--bad-every``th request, a corrupt JPEG, a text file named
.jpg or an upload over the size cap, each of which must be answered with its one line:

    python benchmarks/bench_web.py --clients 8 --requests 2000 --mix --weights default --json FILE

Exit status 1 if a valid request failed or a bad upload got another answer; with ``--mix``
also if the server's memory at the end is more than ``--rss-tolerance`` above its value
after the first 200 requests (or after the first tenth, for shorter runs).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench_video import _random_weights, _rss_mb

from gclenet.fileio import atomic_write_bytes

MAX_FILE_SIZE = "1mb"  # the server's upload cap in a run; the oversized upload is ~3 MB
BAD_ANSWERS = {"corrupt": "not a readable image", "not_an_image": "not a readable image",
               "oversized": "maximum allowed size"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gclenet serve exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"gclenet serve did not answer at {url} within {timeout:.0f} s")


def make_inputs(folder: Path, photo: Path, mix: bool) -> tuple[list[Path], dict[str, Path]]:
    """``(photos with a face, {kind: bad upload})``; without ``mix`` just the photo."""
    import numpy as np
    from PIL import Image, ImageOps

    if not mix:
        return [photo], {}
    image = Image.open(photo).convert("RGB")
    w, h = image.size
    variants = {
        "photo.jpg": image, "mirrored.jpg": ImageOps.mirror(image),
        "half.jpg": image.resize((w // 2, h // 2)), "larger.jpg": image.resize((w * 3 // 2, h * 3 // 2)),
        "crop.jpg": image.crop((w // 8, 0, w * 7 // 8, h * 3 // 4)), "grey.png": ImageOps.grayscale(image),
        "photo.png": image, "tilted.jpg": image.rotate(10, fillcolor=(128, 128, 128)),
    }
    valid = []
    for name, variant in variants.items():
        path = folder / name
        variant.save(path, **({"quality": 90} if name.endswith(".jpg") else {}))
        valid.append(path)
    bad = {"corrupt": folder / "corrupt.jpg", "not_an_image": folder / "notes.jpg",
           "oversized": folder / "huge.png"}
    bad["corrupt"].write_bytes(photo.read_bytes()[:600])  # a JPEG cut off in its header
    bad["not_an_image"].write_text("this is a text file, not a photo\n")
    noise = np.random.default_rng(0).integers(0, 255, (1000, 1000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(bad["oversized"])  # ~3 MB of noise: over the cap
    return valid, bad


def _schedule(requests: int, valid: list[Path], bad: dict[str, Path], bad_every: int) -> list[tuple[str, Path]]:
    """Request i's ``(kind, file)``: valid photos in turn, a bad upload every ``bad_every``th."""
    photos, wrong = itertools.cycle(valid), itertools.cycle(sorted(bad.items()))
    return [next(wrong) if bad and (i + 1) % bad_every == 0 else ("valid", next(photos)) for i in range(requests)]


def _check_picture(path: str) -> None:
    """The annotated picture came back whole (a download cut short would not decode)."""
    from PIL import Image

    with Image.open(path) as picture:
        picture.load()


class _Load:
    """The shared tally of one run: the next request to send and what each one gave."""

    def __init__(self, schedule: list[tuple[str, Path]], pid: int, rss_every: int) -> None:
        self.schedule, self.pid, self.rss_every = schedule, pid, rss_every
        self.lock = threading.Lock()
        self.next = self.done = 0
        self.latency: list[float] = []
        self.errors: list[str] = []
        self.answers: dict[str, dict[str, int]] = {kind: {"expected": 0, "other": 0} for kind in BAD_ANSWERS}
        self.said: dict[str, str] = {}  # the first answer to each kind of bad upload, as the client saw it
        self.labels: set[str] = set()
        self.no_face = 0
        self.rss_after: dict[int, float | None] = {}

    def take(self) -> int | None:
        with self.lock:
            if self.next == len(self.schedule):
                return None
            self.next += 1
            return self.next - 1

    def record(self, index: int, seconds: float, error: str | None, label: str | None = None) -> None:
        kind = self.schedule[index][0]
        with self.lock:
            self.done += 1
            if kind == "valid":
                self.latency.append(seconds)
                if error:
                    self.errors.append(f"request {index + 1} ({self.schedule[index][1].name}): {error}")
                elif label is None:
                    self.no_face += 1
                else:
                    self.labels.add(label)
            else:
                self.said.setdefault(kind, error or "")
                self.answers[kind]["expected" if error and BAD_ANSWERS[kind] in error else "other"] += 1
                if not (error and BAD_ANSWERS[kind] in error):
                    self.errors.append(f"request {index + 1} ({kind}): answered {error or 'as a photo'}")
            if self.done == 1 or self.done % self.rss_every == 0 or self.done == len(self.schedule):
                self.rss_after[self.done] = _rss_mb(self.pid)  # None only if the server has died


def _client_loop(url: str, load: _Load, downloads: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=str(downloads))
    while (index := load.take()) is not None:
        kind, path = load.schedule[index]
        start = time.perf_counter()
        if kind == "oversized":
            load.record(index, time.perf_counter() - start, _upload_raw(url, path))
            continue
        try:
            annotated, _, details, _ = client.predict(handle_file(str(path)), api_name="/predict")
            _check_picture(annotated)
            Path(annotated).unlink()
        except Exception as err:  # every failure counts; the run goes on
            load.record(index, time.perf_counter() - start, " ".join(f"{type(err).__name__}: {err}".split())[:300])
            continue
        load.record(index, time.perf_counter() - start, None,
                    details["faces"][0]["label"] if details["faces"] else None)


def _upload_raw(url: str, path: Path) -> str:
    """Post ``path`` to the upload route as any HTTP client may (gradio_client would refuse a file
    over the cap itself, so the server would never see it); the server's answer, as one line."""
    import httpx

    with open(path, "rb") as handle:
        answer = httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, handle)}, timeout=60)
    return f"HTTP {answer.status_code}: {' '.join(answer.text.split())[:300]}"


def _sample_rss(pid: int, stop: threading.Event, start: float, samples: list[tuple[float, float | None]]) -> None:
    while not stop.wait(1.0):
        samples.append((round(time.perf_counter() - start, 1), _rss_mb(pid)))


def run(weights: str, detector: str, requests: int, valid: list[Path], bad: dict[str, Path], *, clients: int = 1,
        bad_every: int = 10, rss_every: int = 10, work: Path) -> dict:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = work / "server.log"
    # The server's Gradio cache in the run's folder: removed with it, and never a user's /tmp/gradio.
    env = {**os.environ, "GRADIO_TEMP_DIR": str(work / "gradio-cache"), "GRADIO_ANALYTICS_ENABLED": "False",
           "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as log_file:  # a file, not a pipe: a full pipe would stall the server's logging
        server = subprocess.Popen([sys.executable, "-m", "gclenet", "serve", "--port", str(port), "--weights", weights,
                                   "--detector", detector, "--max-file-size", MAX_FILE_SIZE],
                                  stdout=log_file, stderr=subprocess.STDOUT, env=env)
    samples: list[tuple[float, float | None]] = []
    stop = threading.Event()
    try:
        _wait_until_up(url, server, timeout=300, log=log)
        load = _Load(_schedule(requests, valid, bad, bad_every), server.pid, rss_every)
        downloads = work / "downloads"
        start = time.perf_counter()
        sampler = threading.Thread(target=_sample_rss, args=(server.pid, stop, start, samples), daemon=True)
        sampler.start()
        threads = [threading.Thread(target=_client_loop, args=(url, load, downloads / str(i))) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text(errors="replace")
    cached = sum(f.stat().st_size for f in (work / "gradio-cache").rglob("*") if f.is_file())
    return _summary(load, elapsed, clients, samples, text, cached)


def _summary(load: _Load, elapsed: float, clients: int, samples: list, server_log: str, cached_bytes: int) -> dict:
    requests = len(load.schedule)
    reference = min(200, max(1, requests // 10))
    ref_n = min((n for n in load.rss_after if n >= reference), default=1)
    quantiles = statistics.quantiles(load.latency, n=20) if len(load.latency) > 1 else load.latency * 19
    first, last = load.rss_after.get(1), load.rss_after.get(requests)
    return {
        "requests": requests, "clients": clients, "valid_requests": len(load.latency),
        "errors": load.errors, "bad_uploads": load.answers, "bad_upload_answers": load.said,
        "no_face": load.no_face, "labels": sorted(load.labels),
        "median_latency_s": statistics.median(load.latency), "p95_latency_s": quantiles[18],
        "requests_per_s": requests / elapsed, "seconds": elapsed,
        "rss_mb_after_request": load.rss_after, "rss_mb_over_time": samples, "rss_reference_after": ref_n,
        "growth_mb": last - first if None not in (first, last) else None,
        "growth_after_reference": (last / load.rss_after[ref_n] - 1) if None not in (last, load.rss_after[ref_n])
        else None,
        "server_log_tracebacks": server_log.count("Traceback"),
        "server_log_protocol_errors": server_log.count("LocalProtocolError"),
        "server_cache_mb": cached_bytes / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default",
                        help="weights file, 'default' (shipped) or 'random' (an untrained gclenet)")
    parser.add_argument("--detector", choices=["mtcnn", "haar", "none"], default="mtcnn")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients (threads, one Client each)")
    parser.add_argument("--mix", action="store_true", help="variants of the photo and bad uploads, not one photo")
    parser.add_argument("--bad-every", type=int, default=10, help="with --mix: every Nth request is a bad upload")
    parser.add_argument("--rss-every", type=int, default=10, help="read the server's memory every N requests")
    parser.add_argument("--rss-tolerance", type=float, default=0.10, help="with --mix: allowed growth after 200")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    from gclenet.inference.sources import write_example_photo

    with tempfile.TemporaryDirectory() as tmp:
        tempfile.tempdir = tmp  # gradio_client's download folders: gone with the run
        if args.weights == "random":
            args.weights = str(_random_weights(Path(tmp) / "random.safetensors"))
        valid, bad = make_inputs(Path(tmp), write_example_photo(tmp), args.mix)
        result = run(args.weights, args.detector, args.requests, valid, bad, clients=args.clients,
                     bad_every=args.bad_every, rss_every=args.rss_every, work=Path(tmp))
    _report(result, args)
    if args.json:
        atomic_write_bytes(args.json, lambda handle: handle.write(json.dumps(result, indent=2).encode()))
    grown = args.mix and (result["growth_after_reference"] is None
                          or result["growth_after_reference"] > args.rss_tolerance)
    sys.exit(1 if result["errors"] or grown else 0)


def _report(result: dict, args: argparse.Namespace) -> None:
    rss = result["rss_mb_after_request"]
    ref = result["rss_reference_after"]
    shown = [n for n in rss if n in (1, ref, result["requests"]) or len(rss) <= 12]
    print(f"{result['requests']} requests from {result['clients']} client(s) ({args.detector} detector): "
          f"{len(result['errors'])} errors, {result['valid_requests']} valid ({result['no_face']} without a face), "
          f"bad uploads {result['bad_uploads'] if args.mix else 'none'}; latency median "
          f"{result['median_latency_s'] * 1000:.0f} ms, p95 {result['p95_latency_s'] * 1000:.0f} ms; "
          f"{result['requests_per_s']:.2f} requests/s over {result['seconds']:.0f} s; labels {result['labels']}")
    print("server RSS " + ", ".join(f"{rss[n]:.0f} MB after {n}" if rss[n] is not None else f"gone after {n}"
                                    for n in shown)
          + (f"; end vs after {ref}: {result['growth_after_reference']:+.1%}"
             if result["growth_after_reference"] is not None else "; the server died")
          + f"; server log: {result['server_log_tracebacks']} tracebacks, "
            f"{result['server_log_protocol_errors']} protocol errors; cache {result['server_cache_mb']:.1f} MB")
    for line in result["errors"]:
        print(line, file=sys.stderr)


if __name__ == "__main__":
    main()
