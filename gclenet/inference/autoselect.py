"""``backend="auto"``: the fastest correct classifier engine for this machine, per batch shape.

Candidates: eager PyTorch fp32 (the reference), eager PyTorch with bf16 autocast,
ONNX Runtime fp32 and ONNX Runtime int8. Which are *allowed* is decided from facts
that do not change between runs: PyTorch only where torch is installed (the core install
has none: then ONNX Runtime fp32, the weightless graph filled from the weights of
:mod:`gclenet.inference.onnx_graph`, is the reference), bf16 only where the hardware
computes it (emulated bf16 is several times slower, docs/BENCHMARKS.md), ONNX models only
where they exist beside the weights (or are passed), and int8 only from a file whose ``gclenet_int8``
metadata records a validation within 0.5 accuracy points of fp32 (written once, at
export: :func:`gclenet.inference.quantize.export_int8_onnx`). Which allowed one is
*right here* is checked, and which allowed one is *fastest* measured, briefly, the first
time a machine sees a model: every candidate other than the fp32 reference runs the
check faces of :mod:`gclenet.inference.selfcheck` and is refused where its answers differ
from fp32's on this machine (a record made at export on another CPU is no evidence here),
then the rest are timed at batch 1 and 32. Both go into ``<cache>/backends.json``
(:func:`gclenet.inference.cache.cache_dir`), measured again for a new gclenet, ONNX
Runtime or torch, on ``refresh``, or when the machine was busy while it measured.
A batch of up to :data:`SMALL_BATCH` faces runs on the batch-1 choice, a larger one on
the batch-32 choice.

``GCLENET_BACKEND=<candidate>`` overrides the choice (and skips the measurement).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gclenet.inference.backends import (CANDIDATES, Candidate, Engine, OnnxRuntimeBackend, fp32_onnx_path_for,
                                       int8_path_for, onnx_path_for)
from gclenet.inference.cache import file_id
from gclenet.inference.selfcheck import CheckResult, self_check
from gclenet.inference.timings import cache_path, machine_id, measure
from gclenet.inference.timings import machine_busy as _busy  # a name of this module: tests make it quiet
from gclenet.inference.timings import read_cache as _read_cache
from gclenet.inference.timings import write_cache as _write_cache
from gclenet.models.weights import read_weights_info, resolve_weights

__all__ = ["CANDIDATES", "Selection", "AutoBackend", "allowed_candidates", "choose_backend", "measure",
           "select_backends", "cached_backends", "machine_id", "cache_path", "ENV_BACKEND", "MEASURED_BATCHES", "SMALL_BATCH",
           "TOLERANCE_POINTS"]

log = logging.getLogger(__name__)

ENV_BACKEND = "GCLENET_BACKEND"
MEASURED_BATCHES = (1, 32)
SMALL_BATCH = 5  # batches up to this many faces run on the batch-1 choice (nearer 1 than 32 on a log scale)
TOLERANCE_POINTS = 0.5  # int8 may lose at most this many accuracy points where it was validated
# CANDIDATES (backends.py) are in order of preference: a later one must be faster by
# ``margin`` to be chosen over an earlier one (fewer numerical surprises for no gain).
REFERENCE = CANDIDATES[0]
REFERENCES = ("torch-fp32", "onnx-fp32")  # the fp32 engines, either of which the others are checked against
# A measurement taken while the load average was above the number of CPUs is marked busy and
# taken again by the next run, up to this many times (a machine that is always busy keeps it).
BUSY_RETRIES = 2

Runner = Callable[[Any], Any]  # runs the classifier on one batch


@dataclass
class Selection:
    """The engine chosen for one model and batch size, and why."""

    backend: str
    batch: int
    source: str  # "env", "only" (one candidate allowed), "cache" or "measured"
    images_per_s: dict[str, float] = field(default_factory=dict)  # what was measured
    excluded: dict[str, str] = field(default_factory=dict)  # candidate -> why it was not allowed
    measured_on: str | None = None  # date of the measurement
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # candidate -> CheckResult.to_dict()
    reference: str = REFERENCE  # the fp32 engine the checks compared with

    def describe(self) -> str:
        """One line for ``gclenet info``."""
        speeds = ", ".join(f"{name} {speed:.0f}" for name, speed in
                           sorted(self.images_per_s.items(), key=lambda kv: -kv[1]))
        line = f"classifier backend (batch {self.batch}): {self.backend} [{self.source}]"
        if speeds:
            line += f"; images/s: {speeds}" + (f" (measured {self.measured_on})" if self.measured_on else "")
        if self.excluded:
            line += "; not allowed: " + ", ".join(f"{k} ({v})" for k, v in self.excluded.items())
        return line

    def describe_checks(self) -> list[str]:
        """A line per candidate that ran the self-check against fp32 here."""
        return [f"self-check of {name} against {self.reference}: {CheckResult.from_dict(values).describe()}"
                for name, values in self.checks.items()]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def allowed_candidates(*, bf16_fast: bool, onnx_fp32: bool, int8_metadata: Mapping[str, Any] | None,
                       device: str = "cpu", tolerance_points: float = TOLERANCE_POINTS,
                       torch: bool = True) -> tuple[list[str], dict[str, str]]:
    """``(allowed, excluded)``: which candidates may be measured, and why each other may not.

    Args:
        bf16_fast: the device computes bf16 in hardware (:func:`gclenet.hardware.fast_bf16_available`).
        onnx_fp32: an fp32 ONNX model of the weights is at hand.
        int8_metadata: the int8 model's ``gclenet_int8`` record, or ``None`` where there is none.
        device: ONNX Runtime runs here on the CPU only.
        tolerance_points: accuracy int8 may lose against fp32, in points.
        torch: torch is installed (the core install has none).
    """
    from gclenet.extras import install_command

    excluded: dict[str, str] = {}
    if not bf16_fast:
        excluded["torch-bf16"] = "no bf16 hardware: emulated"
    if not torch:
        excluded["torch-fp32"] = excluded["torch-bf16"] = f"torch is not installed: {install_command('torch')}"
    if device != "cpu":
        excluded["onnx-fp32"] = excluded["onnx-int8"] = f"CPU only, the device is {device}"
    if not onnx_fp32:
        excluded.setdefault("onnx-fp32", "no fp32 ONNX model beside the weights")
    if int8_metadata is None:
        excluded.setdefault("onnx-int8", "no int8 model")
    else:
        record = int8_metadata.get("validation")
        if not record:
            excluded.setdefault("onnx-int8", "int8 model without a recorded validation")
        elif record["accuracy_drop_points"] > tolerance_points:
            excluded.setdefault("onnx-int8", f"int8 loses {record['accuracy_drop_points']:.2f} accuracy points "
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


def _usable(entry: Mapping[str, Any] | None, allowed: Sequence[str]) -> bool:
    return bool(entry) and set(entry.get("allowed", [])) == set(allowed) and entry.get("backend") in allowed \
        and entry.get("busy_retries", 0) == 0


def select_backends(model: str, batches: Sequence[int], allowed: Sequence[str], excluded: Mapping[str, str],
                    runners: Callable[[], Mapping[str, Runner]], make_batch: Callable[[str, int], Any], *,
                    cache: Path | None = None, refresh: bool = False, machine: str | None = None,
                    measure_fn: Callable[..., dict[str, float]] | None = None,
                    check: Callable[[Sequence[str]], Mapping[str, CheckResult]] | None = None,
                    reference: str = REFERENCE) -> dict[int, Selection]:
    """The backend for ``model`` at each of ``batches``: from ``$GCLENET_BACKEND``, else the only
    allowed one, else from the cache, else checked and measured (then cached).

    Args:
        model: :func:`~gclenet.inference.cache.file_id` of the files involved.
        allowed, excluded: :func:`allowed_candidates`'s answer.
        runners: builds the allowed candidates' runners; called only when measuring
            (building them costs seconds: the model, the ONNX sessions), at most once.
        make_batch: (candidate name, batch size) -> an input batch.
        refresh: measure even where the cache has an answer.
        measure_fn: the measurement (default :func:`measure`; tests inject timings here).
        check: candidate names -> their :class:`~gclenet.inference.selfcheck.CheckResult`
            against the reference; a candidate that fails is not measured and never chosen.
        reference: the fp32 engine the others are checked against (not checked itself).

    Raises:
        ValueError: ``$GCLENET_BACKEND`` names no candidate, or one not allowed here; nothing is allowed.
    """
    forced = os.environ.get(ENV_BACKEND)
    if forced:
        if forced not in CANDIDATES:
            raise ValueError(f"{ENV_BACKEND}={forced!r}: valid: {', '.join(CANDIDATES)}")
        if forced not in allowed:
            raise ValueError(f"{ENV_BACKEND}={forced!r} is not allowed here: {excluded.get(forced, 'unavailable')}")
        return {b: Selection(forced, b, "env", excluded=dict(excluded)) for b in batches}
    if not allowed:
        raise ValueError("no classifier backend is allowed here: " + "; ".join(f"{k}: {v}" for k, v in excluded.items()))
    if len(allowed) == 1:
        return {b: Selection(allowed[0], b, "only", excluded=dict(excluded)) for b in batches}
    cache = cache or cache_path()
    machine = machine or machine_id()
    data = _read_cache(cache)
    out: dict[int, Selection] = {}
    for b in batches:
        entry = data.get(f"{machine} | model {model} | batch {b}")
        if _usable(entry, allowed) and not refresh:
            out[b] = Selection(entry["backend"], b, "cache", entry.get("images_per_s", {}),
                               {**excluded, **entry.get("refused", {})}, entry.get("measured_on"),
                               entry.get("checks", {}), reference)
    missing = [b for b in batches if b not in out]
    if missing:
        retries = max((data.get(f"{machine} | model {model} | batch {b}") or {}).get("busy_retries", 0)
                      for b in missing)
        started = time.perf_counter()
        print(f"gclenet: checking {len(allowed) - 1} classifier engine(s) against {reference} on this machine "
              f"and timing them (once; a few seconds)...", file=sys.stderr, flush=True)
        checks = dict(check([c for c in allowed if c != reference]) if check else {})
        refused = {name: result.reason() for name, result in checks.items() if not result.passed}
        for name, why in refused.items():
            log.warning("%s is not used on this machine: %s", name, why)
        usable = [c for c in allowed if c not in refused]
        built = {name: run for name, run in runners().items() if name in usable}
        # Figures taken beside other work say little: measured again by the next runs while
        # ``busy_retries`` lasts (a machine that is always busy keeps the last figures).
        busy_left = (retries - 1 if retries else BUSY_RETRIES) if _busy() else 0
        measured: dict[str, Any] = {}
        for b in missing:
            speeds = (measure_fn or measure)(built, lambda name, b=b: make_batch(name, b), batch=b)
            out[b] = Selection(choose_backend(speeds, usable), b, "measured", speeds, {**excluded, **refused},
                               _dt.date.today().isoformat(), {k: v.to_dict() for k, v in checks.items()}, reference)
            measured[f"{machine} | model {model} | batch {b}"] = {
                "backend": out[b].backend, "allowed": list(allowed), "images_per_s": speeds,
                "measured_on": out[b].measured_on, "checks": out[b].checks, "refused": refused,
                "busy_retries": busy_left}
        # Another process may have measured other batches or models meanwhile: keep its entries.
        _write_cache(cache, {**_read_cache(cache), **measured})
        print(f"gclenet: done in {time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{s.backend} at batch {b}" for b, s in out.items() if b in missing)
              + (" (the machine was busy: measured again next time)" if busy_left else ""),
              file=sys.stderr, flush=True)
    return {b: out[b] for b in batches}


def cached_backends(weights: str | Path = "default", device: str = "cpu") -> dict[int, Selection]:
    """What ``backend="auto"`` chose for ``weights`` on this machine, from the cache only: no
    model is built, nothing measured (for ``gclenet --version``, which must stay instant).

    Empty where nothing was measured yet, or ``$GCLENET_BACKEND``'s choice where it is set.
    The cache key names the ONNX models that were allowed; which ones were is not known
    without opening them, so every combination of the ones beside the weights is tried.
    """
    from itertools import combinations

    forced = os.environ.get(ENV_BACKEND)
    if forced:
        return {b: Selection(forced, b, "env") for b in MEASURED_BATCHES}
    path = resolve_weights(weights)
    onnx = [p for p in (fp32_onnx_path_for(path), int8_path_for(path)) if p.is_file()] if device == "cpu" else []
    if not onnx:
        from gclenet.hardware import fast_bf16_available

        if not fast_bf16_available(device):  # eager fp32 is the only candidate: nothing to measure
            return {b: Selection("torch-fp32", b, "only") for b in MEASURED_BATCHES}
    data, machine = _read_cache(cache_path()), machine_id(device)
    for n in range(len(onnx), -1, -1):
        for files in combinations(onnx, n):
            model = file_id(path, *files)
            entries = {b: data.get(f"{machine} | model {model} | batch {b}") for b in MEASURED_BATCHES}
            if all(entries.values()):
                return {b: Selection(e["backend"], b, "cache", e.get("images_per_s", {}), measured_on=e.get("measured_on"))
                        for b, e in entries.items()}
    return {}


class AutoBackend:
    """The classifier engine chosen per batch shape: the batch-1 choice for up to
    :data:`SMALL_BATCH` faces, the batch-32 choice beyond. Engines are built when first
    needed (a choice of ONNX Runtime never imports torch).

    Args:
        weights: ``"default"``, a shipped name or a weights file.
        device: ``"cpu"`` or a CUDA device (then PyTorch only).
        precision: ``"auto"`` (every candidate) or ``"fp32"`` / ``"bf16"`` / ``"int8"`` (the candidates of it).
        onnx_path: an exported model (fp32 or int8) to use beside the ones found next to the weights.
        refresh: measure again even where the cache has an answer.
    """

    name = "auto"

    def __init__(self, weights: str | Path, *, device: str = "cpu", precision: str = "auto",
                 onnx_path: str | Path | None = None, refresh: bool = False) -> None:
        from importlib.util import find_spec

        from gclenet.hardware import fast_bf16_available

        self.weights, self.device = resolve_weights(weights), device
        self.info = read_weights_info(self.weights)
        self._engines: dict[str, Engine] = {}
        has_torch = find_spec("torch") is not None  # the core install has none: ONNX Runtime only
        # The weightless graph is the fp32 engine where torch is not installed; beside torch it
        # would only add seconds to the one-time check (eager fp32 is the reference there).
        fp32 = fp32_onnx_path_for(self.weights) if not has_torch else onnx_path_for(self.weights)
        self.files = {"onnx-fp32": fp32, "onnx-int8": int8_path_for(self.weights)}
        if onnx_path and device == "cpu":  # its metadata says which it is: the session is kept
            given = self._onnx(Path(onnx_path))
            self._engines[given.name], self.files[given.name] = given, Path(onnx_path)
        int8_record = None
        if device == "cpu" and self.files["onnx-int8"].is_file():
            engine = self._engines.get("onnx-int8") or self._onnx(self.files["onnx-int8"])
            if engine.info.network_dict() == self.info.network_dict():  # not a stale file of other weights
                self._engines["onnx-int8"], int8_record = engine, engine.int8_record or {}
            else:
                log.warning("%s: made from other weights than %s; not used", engine.path, self.weights)
        # An explicit precision is honoured where it can run; "auto" asks for speed and accuracy.
        allowed, excluded = allowed_candidates(
            bf16_fast=has_torch and (precision == "bf16" or fast_bf16_available(device)),
            onnx_fp32=device == "cpu" and self.files["onnx-fp32"].is_file(), int8_metadata=int8_record,
            device=device, tolerance_points=float("inf") if precision == "int8" else TOLERANCE_POINTS,
            torch=has_torch)
        wanted = {"auto": CANDIDATES, "fp32": ("torch-fp32", "onnx-fp32"), "bf16": ("torch-bf16",),
                  "int8": ("onnx-int8",)}[precision]
        excluded = {**excluded, **{c: f"precision {precision}" for c in CANDIDATES if c not in wanted}}
        allowed = [c for c in allowed if c in wanted]
        # Checked against eager fp32 where torch runs, else against the filled graph (equal to ~1e-6).
        self.reference = next((c for c in REFERENCES if c in allowed), REFERENCE)
        self.selections = select_backends(
            file_id(self.weights, *(self.files[c] for c in allowed if Candidate.parse(c).engine == "onnx")),
            MEASURED_BATCHES,
            allowed, excluded, lambda: {c: self.engine(c).probabilities for c in allowed}, self._random_batch,
            refresh=refresh, machine=machine_id(device), check=self._check if self.reference in allowed else None,
            reference=self.reference)
        chosen = {s.backend for s in self.selections.values()}
        self._engines = {k: v for k, v in self._engines.items() if k in chosen}  # the others are not kept
        for name in chosen:  # built now: weights that do not fit the model fail here, not at the first face
            self.engine(name)

    def _check(self, candidates: Sequence[str]) -> dict[str, CheckResult]:
        return self_check(self.engine(self.reference).classify, {c: self.engine(c).classify for c in candidates})

    def _onnx(self, path: Path) -> OnnxRuntimeBackend:
        return OnnxRuntimeBackend(self.weights, onnx_path=path)

    def engine(self, candidate: str) -> Engine:
        """The engine of ``candidate`` (built on first use)."""
        if candidate not in self._engines:
            from gclenet.inference.backends import TorchBackend

            wanted = Candidate.parse(candidate)
            if wanted.engine == "torch":
                self._engines[candidate] = TorchBackend(self.weights, device=self.device, precision=wanted.precision)
            else:
                self._engines[candidate] = self._onnx(self.files[candidate])
        return self._engines[candidate]

    def _random_batch(self, candidate: str, batch: int) -> Any:
        faces = np.random.default_rng(0).integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
        return self.engine(candidate).prepare(list(faces))

    def selection_for(self, faces: int) -> Selection:
        return self.selections[MEASURED_BATCHES[0] if faces <= SMALL_BATCH else MEASURED_BATCHES[-1]]

    def classify(self, crops: Sequence[np.ndarray], *, tta: bool = False) -> np.ndarray:
        return self.engine(self.selection_for(len(crops)).backend).classify(crops, tta=tta)

    def torch_model(self) -> Any:
        """A PyTorch engine's model (built if the choice was ONNX Runtime), e.g. for Grad-CAM."""
        torch_engine = next((e for n, e in self._engines.items() if Candidate.parse(n).engine == "torch"), None)
        return (torch_engine or self.engine("torch-fp32")).torch_model()

    def describe(self) -> list[str]:
        return [s.describe() for s in self.selections.values()]
