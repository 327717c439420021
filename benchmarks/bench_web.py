"""The web demo under sequential load: N API requests, errors, latency and server memory.

Starts `gclenet serve` in its own process on a free loopback port, sends N requests
with `gradio_client` (the same call any program would make), and reads the server's
resident memory from /proc after the first request (warm) and after the last:

    python benchmarks/bench_web.py --requests 50 --weights W [--detector mtcnn] [--json FILE]

Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_video import _random_weights, _rss_mb

from gclenet.fileio import atomic_write_bytes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gclenet serve exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"gclenet serve did not answer at {url} within {timeout:.0f} s")


def run(weights: str, detector: str, requests: int, image: Path) -> dict:
    from gradio_client import Client, handle_file

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "gclenet", "serve", "--port", str(port), "--weights", weights,
                               "--detector", detector], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_up(url, server, timeout=180)
        client = Client(url, verbose=False)
        latencies, labels, errors, rss = [], [], [], {}
        for i in range(requests):
            start = time.perf_counter()
            try:
                _, _, details, _ = client.predict(handle_file(str(image)), api_name="/predict")
                labels.append(details["faces"][0]["label"] if details["faces"] else None)
            except Exception as err:  # every failure counts; the run goes on
                errors.append(f"request {i + 1}: {err}")
            latencies.append(time.perf_counter() - start)
            if i == 0 or (i + 1) % 10 == 0 or i + 1 == requests:
                rss[i + 1] = _rss_mb(server.pid)  # None only if the server has died
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"requests": requests, "errors": errors, "labels": sorted(set(map(str, labels))),
            "median_latency_s": statistics.median(latencies), "rss_mb_after_request": rss,
            "growth_mb": rss[requests] - rss[1] if None not in (rss[1], rss[requests]) else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default",
                        help="weights file, 'default' (shipped) or 'random' (an untrained gclenet)")
    parser.add_argument("--detector", choices=["mtcnn", "haar", "none"], default="mtcnn")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    from PIL import Image
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        if args.weights == "random":
            args.weights = str(_random_weights(Path(tmp) / "random.safetensors"))
        image = Path(tmp) / "astronaut.jpg"
        Image.fromarray(data.astronaut()).save(image, quality=90)
        result = run(args.weights, args.detector, args.requests, image)
    print(f"{result['requests']} sequential requests ({args.detector} detector): {len(result['errors'])} errors, "
          f"median latency {result['median_latency_s'] * 1000:.0f} ms, labels {result['labels']}; server RSS "
          + ", ".join(f"{mb:.0f} MB after {n}" if mb is not None else f"gone after {n}"
                      for n, mb in result["rss_mb_after_request"].items())
          + (f"; growth after warm-up {result['growth_mb']:+.0f} MB" if result["growth_mb"] is not None
             else "; the server died"))
    for line in result["errors"]:
        print(line, file=sys.stderr)
    if args.json:
        atomic_write_bytes(args.json, lambda handle: handle.write(json.dumps(result, indent=2).encode()))
    sys.exit(1 if result["errors"] else 0)


if __name__ == "__main__":
    main()
