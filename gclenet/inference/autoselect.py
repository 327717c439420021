"""``backend="auto"``: the fastest correct classifier engine for this machine and batch size.

Candidates: eager PyTorch fp32 (the reference), eager PyTorch with bf16 autocast,
ONNX Runtime fp32 and ONNX Runtime int8. Which are *allowed* is decided from facts
that do not change between runs: bf16 only where the hardware computes it (emulated
bf16 is several times slower, docs/BENCHMARKS.md), int8 only from a file whose
``gclenet_int8`` metadata records a validation within 0.5 accuracy points (written
once, at export: :func:`gclenet.inference.quantize.export_int8_onnx`). Which allowed
one is *fastest* is measured, briefly, the first time a machine sees a model and batch
size, and cached in ``$XDG_CACHE_HOME/gclenet/backends.json`` (``~/.cache/...``).

``GCLENET_BACKEND=<candidate>`` overrides the choice (and skips the measurement);
``GCLENET_CACHE_DIR`` moves the cache.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CANDIDATES", "Selection", "allowed_candidates", "choose_backend", "measure", "select_backend",
           "auto_select", "build_runners", "machine_id", "model_id", "cache_path", "ENV_BACKEND"]

# In order of preference: the first is the reference; a later one must be faster by
# ``margin`` to be chosen over an earlier one (fewer numerical surprises for no gain).
CANDIDATES = ("torch-fp32", "onnx-fp32", "torch-bf16", "onnx-int8")
ENV_BACKEND = "GCLENET_BACKEND"
ENV_CACHE_DIR = "GCLENET_CACHE_DIR"

Runner = Callable[[Any], Any]  # runs the classifier on one batch


@dataclass
class Selection:
    """The engine chosen for one model and batch size, and why."""

    backend: str
    batch: int
    source: str  # "env", "cache" or "measured"
    images_per_s: dict[str, float] = field(default_factory=dict)  # what was measured (empty for "env")
    excluded: dict[str, str] = field(default_factory=dict)  # candidate -> why it was not allowed
    measured_on: str | None = None  # date of the measurement

    def describe(self) -> str:
        """One line for ``gclenet info`` / ``--version``."""
        speeds = ", ".join(f"{name} {speed:.0f}" for name, speed in
                           sorted(self.images_per_s.items(), key=lambda kv: -kv[1]))
        line = f"classifier backend (batch {self.batch}): {self.backend} [{self.source}]"
        if speeds:
            line += f"; images/s: {speeds}" + (f" (measured {self.measured_on})" if self.measured_on else "")
        if self.excluded:
            line += "; not allowed: " + ", ".join(f"{k} ({v})" for k, v in self.excluded.items())
        return line


def allowed_candidates(*, bf16_fast: bool, onnxruntime: bool, int8_metadata: Mapping[str, Any] | None,
                       tolerance_points: float = 0.5) -> tuple[list[str], dict[str, str]]:
    """``(allowed, excluded)``: which candidates may be measured, and why each other may not.

    Args:
        bf16_fast: the device computes bf16 in hardware (:func:`gclenet.hardware.fast_bf16_available`).
        onnxruntime: ONNX Runtime is importable (and an fp32 ONNX model is at hand).
        int8_metadata: :func:`gclenet.inference.quantize.read_onnx_metadata` of the int8
            model, or ``None`` where there is none.
        tolerance_points: accuracy int8 may lose against fp32, in points.
    """
    excluded: dict[str, str] = {}
    if not bf16_fast:
        excluded["torch-bf16"] = "no bf16 hardware: emulated"
    if not onnxruntime:
        excluded["onnx-fp32"] = excluded["onnx-int8"] = "no onnxruntime or ONNX model"
    elif int8_metadata is None:
        excluded["onnx-int8"] = "no int8 model"
    else:
        record = (int8_metadata.get("gclenet_int8") or {}).get("validation")
        if not record:
            excluded["onnx-int8"] = "int8 model without a recorded validation"
        elif record["accuracy_drop_points"] > tolerance_points:
            excluded["onnx-int8"] = (f"int8 loses {record['accuracy_drop_points']:.2f} accuracy points "
                                     f"(> {tolerance_points})")
    return [c for c in CANDIDATES if c not in excluded], excluded


def choose_backend(images_per_s: Mapping[str, float], allowed: Sequence[str], *, margin: float = 0.05) -> str:
    """The fastest allowed candidate, unless an earlier one in :data:`CANDIDATES` is within
    ``margin`` (a fraction) of it: speed differences that small are noise on a shared
    machine, and the earlier candidate is the more exact one.

    Raises:
        ValueError: no allowed candidate was measured.
    """
    measured = [c for c in CANDIDATES if c in allowed and images_per_s.get(c, 0) > 0]
    if not measured:
        raise ValueError(f"no allowed backend was measured (allowed {list(allowed)}, measured {dict(images_per_s)})")
    best = max(images_per_s[c] for c in measured)
    return next(c for c in measured if images_per_s[c] >= best * (1 - margin))


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


def machine_id() -> str:
    """What makes timings from another machine (or library build) invalid here."""
    import torch

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = "none"
    cpu = platform.processor() or platform.machine()
    try:  # Linux: the model name, which platform.processor() leaves empty
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    threads = torch.get_num_threads()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no cuda"
    return f"{cpu} | {os.cpu_count()} cpus, {threads} torch threads | {gpu} | torch {torch.__version__} | ort {ort_version}"


def model_id(*paths: str | Path | None) -> str:
    """A short digest of the model files (the weights, the ONNX models): size and the
    first MiB, enough to tell files apart without reading large ones whole."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        digest.update(f"{path.name}:{path.stat().st_size}:".encode())
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def cache_path() -> Path:
    """``$GCLENET_CACHE_DIR/backends.json``, else under ``$XDG_CACHE_HOME/gclenet`` or ``~/.cache/gclenet``."""
    root = os.environ.get(ENV_CACHE_DIR) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gclenet"
    return Path(root) / "backends.json"


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # missing, unreadable or corrupt: measure again
        return {}


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    from gclenet.fileio import atomic_write_bytes

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, lambda handle: handle.write(json.dumps(data, indent=1).encode()))
    except OSError:  # a read-only home: the choice still stands for this process
        pass


def select_backend(model: str, batch: int, allowed: Sequence[str], excluded: Mapping[str, str],
                   runners: Callable[[], Mapping[str, Runner]], make_batch: Callable[[str], Any], *,
                   cache: Path | None = None, refresh: bool = False, machine: str | None = None,
                   measure_fn: Callable[..., dict[str, float]] = measure) -> Selection:
    """The backend for ``model`` at ``batch``: from ``$GCLENET_BACKEND``, else from the
    cache, else measured (then cached).

    Args:
        model: :func:`model_id` of the files involved.
        allowed, excluded: :func:`allowed_candidates`'s answer.
        runners: builds the allowed candidates' runners; called only when measuring
            (building them costs seconds: the model, the ONNX sessions).
        make_batch: candidate name -> an input batch of ``batch`` faces.
        refresh: measure even where the cache has an answer.
        measure_fn: the measurement (tests inject timings here).

    Raises:
        ValueError: ``$GCLENET_BACKEND`` names no candidate, or one not allowed here.
    """
    forced = os.environ.get(ENV_BACKEND)
    if forced:
        if forced not in CANDIDATES:
            raise ValueError(f"{ENV_BACKEND}={forced!r}: valid: {', '.join(CANDIDATES)}")
        if forced not in allowed:
            raise ValueError(f"{ENV_BACKEND}={forced!r} is not allowed here: {excluded.get(forced, 'unavailable')}")
        return Selection(forced, batch, "env", excluded=dict(excluded))
    cache = cache or cache_path()
    key = f"{machine or machine_id()} | model {model} | batch {batch}"
    data = _read_cache(cache)
    entry = data.get(key)
    if entry and not refresh and set(entry.get("allowed", [])) == set(allowed) and entry.get("backend") in allowed:
        return Selection(entry["backend"], batch, "cache", entry.get("images_per_s", {}), dict(excluded),
                         entry.get("measured_on"))
    built = {name: run for name, run in runners().items() if name in allowed}
    speeds = measure_fn(built, make_batch, batch=batch)
    selection = Selection(choose_backend(speeds, allowed), batch, "measured", speeds, dict(excluded),
                          _dt.date.today().isoformat())
    data[key] = {"backend": selection.backend, "allowed": list(allowed), "images_per_s": speeds,
                 "measured_on": selection.measured_on}
    _write_cache(cache, data)
    return selection


def selection_record(selection: Selection) -> dict[str, Any]:
    """The selection as a JSON-ready dict (for ``gclenet info --json``)."""
    return asdict(selection)


def build_runners(weights: str | Path, *, device: str = "cpu", onnx_fp32: str | Path | None = None,
                  onnx_int8: str | Path | None = None, only: Sequence[str] = CANDIDATES) -> dict[str, Runner]:
    """Runners over today's backends (:mod:`gclenet.inference.backends`); each takes a
    normalised ``(N, 3, S, S)`` tensor, as ``Recognizer`` passes them."""
    import copy

    from gclenet.inference.backends import OnnxRuntimeBackend, TorchBackend

    runners: dict[str, Runner] = {}
    if {"torch-fp32", "torch-bf16"} & set(only):
        fp32 = TorchBackend(weights, device=device, precision="fp32")
        runners["torch-fp32"] = fp32.probabilities
        if "torch-bf16" in only:
            bf16 = copy.copy(fp32)  # the same model, autocast on
            bf16.bf16 = True
            runners["torch-bf16"] = bf16.probabilities
    for name, path in (("onnx-fp32", onnx_fp32), ("onnx-int8", onnx_int8)):
        if name in only and path is not None:
            runners[name] = OnnxRuntimeBackend(weights, onnx_path=path, device=device).probabilities
    return {name: runners[name] for name in only if name in runners}


def auto_select(weights: str | Path, batch: int, input_size: int, *, device: str = "cpu",
                onnx_fp32: str | Path | None = None, onnx_int8: str | Path | None = None,
                refresh: bool = False) -> Selection:
    """Everything wired: what is allowed here, the cache, a measurement when needed.

    Args:
        weights: the weights file (its digest, with the ONNX files', keys the cache).
        batch: faces per forward pass the caller will use.
        input_size: the model's input side (the weights' ``input_size``).
        onnx_fp32, onnx_int8: exported models, where they exist.
    """
    import torch

    from gclenet.hardware import fast_bf16_available

    try:
        import onnxruntime  # noqa: F401

        has_ort = onnx_fp32 is not None and Path(onnx_fp32).is_file()
    except ImportError:
        has_ort = False
    int8_meta = None
    if has_ort and onnx_int8 is not None and Path(onnx_int8).is_file():
        from gclenet.inference.quantize import read_onnx_metadata

        int8_meta = read_onnx_metadata(onnx_int8)
    allowed, excluded = allowed_candidates(bf16_fast=fast_bf16_available(device), onnxruntime=has_ort,
                                           int8_metadata=int8_meta)
    if device != "cpu":  # ONNX Runtime runs here on its CPU provider only
        allowed = [c for c in allowed if not c.startswith("onnx")]
        excluded = {**excluded, **{c: f"CPU only, device is {device}" for c in CANDIDATES if c.startswith("onnx")}}
    files = [weights, onnx_fp32 if has_ort else None, onnx_int8 if int8_meta else None]

    def make_batch(_: str) -> Any:
        return torch.randn(batch, 3, input_size, input_size).contiguous(memory_format=torch.channels_last)

    return select_backend(model_id(*files), batch, allowed, excluded,
                          lambda: build_runners(weights, device=device, onnx_fp32=onnx_fp32,
                                                onnx_int8=onnx_int8, only=allowed),
                          make_batch, refresh=refresh)
