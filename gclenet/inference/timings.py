"""The one-time measurement's parts: the timing loop, what identifies a machine's figures,
the cache file they are kept in (``<cache>/backends.json``) and whether the machine is busy
while it measures. :mod:`gclenet.inference.autoselect` decides with them."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gclenet.inference.cache import cache_dir

__all__ = ["measure", "machine_id", "cache_path", "read_cache", "write_cache", "machine_busy"]

Runner = Callable[[Any], Any]  # runs one batch


def measure(runners: Mapping[str, Runner], make_batch: Callable[[str], Any], *, rounds: int = 3,
            min_seconds: float = 0.1, batch: int = 1) -> dict[str, float]:
    """Images/s of each runner: a warm-up call, then ``rounds`` round-robin rounds (so a
    neighbour's load hits every runner alike) of as many calls as fill ``min_seconds``;
    the median round counts.

    Args:
        runners: candidate name -> a function running one batch.
        make_batch: candidate name -> the input batch it takes (a tensor, an array).
        batch: images per batch, to convert calls/s into images/s.
    """
    inputs = {name: make_batch(name) for name in runners}
    calls: dict[str, int] = {}
    for name, run in runners.items():  # warm-up, and how many calls fill min_seconds
        run(inputs[name])
        start = time.perf_counter()
        run(inputs[name])
        calls[name] = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-6)))
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                run(inputs[name])
            seconds[name].append((time.perf_counter() - start) / calls[name])
    return {name: batch / statistics.median(t) for name, t in seconds.items()}


def machine_id(device: str = "cpu") -> str:
    """What makes timings from another machine, device, thread setting or library build
    invalid here (asked without importing torch)."""
    from importlib.metadata import PackageNotFoundError, version

    from gclenet.hardware import cpu_name

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "none"

    threads = os.environ.get("OMP_NUM_THREADS", "default")
    return (f"{cpu_name()} | {os.cpu_count()} cpus, threads {threads} | {device} | torch {installed('torch')} | "
            f"ort {installed('onnxruntime')} | gclenet {installed('gclenet')}")


def cache_path() -> Path:
    """The backend timings: ``backends.json`` in gclenet's cache folder."""
    return cache_dir() / "backends.json"


def read_cache(path: Path) -> dict[str, Any]:
    """The cached figures, keyed by machine, model and batch; ``{}`` where missing or corrupt."""
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable or corrupt: measure again
        return {}
    # A hand-edited file: entries that are not what gclenet writes are measured again.
    return {key: entry for key, entry in data.items() if _well_formed(entry)} if isinstance(data, dict) else {}


def _well_formed(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("backend"), str) \
        and isinstance(entry.get("allowed", []), list) and isinstance(entry.get("busy_retries", 0), int) \
        and all(isinstance(entry.get(k, {}), dict) for k in ("images_per_s", "refused", "checks"))


def write_cache(path: Path, data: dict[str, Any]) -> None:
    """Atomically; a read-only home leaves the choice standing for this process only."""
    import json

    from gclenet.fileio import atomic_write_bytes

    try:
        atomic_write_bytes(path, lambda handle: handle.write(json.dumps(data, indent=1).encode()))
    except OSError:  # a read-only home: the choice still stands for this process
        pass


def machine_busy() -> bool:
    """Whether other work competes for the CPUs now (timings taken now say little)."""
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        return False
