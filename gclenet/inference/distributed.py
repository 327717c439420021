"""Recognising many images on Ray Data: one laptop's cores or a whole Ray cluster.

The inputs become a Ray dataset of paths; ``map_batches`` runs :class:`RecognizerWorker`, a
callable class, so each Ray actor builds its :class:`~gclenet.inference.recognizer.Recognizer`
once and then decodes, detects and classifies batch after batch. Each batch's results are
written by the actor itself as one Parquet part (:mod:`~gclenet.inference.parquet_store`),
renamed into place when whole; the driver only sees a few counts per batch, so its memory
does not grow with the number of inputs, and a killed run resumes from the parts that exist.
Ray does all the scheduling, retrying and streaming: nothing here queues or pools work.

Images only. A long video is one sequential stream (its faces are followed from frame to
frame, ``inference/stream.py``): split into batches it would lose the tracks, and as a
whole it is one long task that Ray cannot balance or resume part-way. Many videos are
better served by one plain ``gclenet predict`` per video (e.g. one Ray task or batch-queue
job per video), which is not done here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gclenet.inference import parquet_store

__all__ = ["RunSummary", "RecognizerWorker", "actor_cpus", "recognise_on_ray"]

# Images per part file (and per Ray task). Larger parts cost less per image (a task, a file,
# an fsync each: with parts of 16, two workers on 2 cores were slower than one); smaller ones
# lose less work to a kill and balance better at the end of a run.
PART_SIZE = 256

@dataclass
class RunSummary:
    """What a run did: its inputs, those an earlier run had finished, faces and errors found."""

    inputs: int
    skipped: int  # finished by an earlier run into the same folder: not done again
    processed: int
    faces: int
    no_face: int
    errors: int
    wall_s: float

    def text(self) -> str:
        rate = self.processed / self.wall_s if self.wall_s > 0 else 0.0
        return (f"{self.inputs} input(s): {self.processed} processed, {self.skipped} skipped (finished by an "
                f"earlier run), {self.faces} face(s), {self.no_face} without a face, {self.errors} error(s); "
                f"{self.wall_s:.1f} s ({rate:.1f} images/s)")


def actor_cpus(cpus: float, workers: int, threads: int) -> float:
    """CPUs to reserve for each of ``workers`` actors among ``cpus``: ``threads`` at most, and
    together always less than all of them.

    Ray Data's own tasks (splitting the input into blocks, moving results) need a CPU slot
    too: on a 2-core machine, 2 actors of 1 CPU each took both and the pipeline waited for
    good. Sharing ``cpus`` among ``workers + 1`` leaves room for them; the actors' threads
    still run on every core (a reservation is a scheduling count, not a pin).
    """
    return min(float(threads), cpus / (workers + 1))


class RecognizerWorker:
    """One Ray actor's Recognizer, called on batches of paths (a ``pyarrow.Table`` with ``file``)."""

    def __init__(self, settings: dict[str, Any], out: str, run_id: str, batch_size: int = 16) -> None:
        from gclenet.inference.recognizer import Recognizer

        self.recognizer = Recognizer(**settings)
        self.classes = self.recognizer.classes
        self.out, self.run_id, self.batch_size = out, run_id, batch_size

    def _records(self, files: list[str]) -> list[dict[str, Any]]:
        results = []
        for start in range(0, len(files), self.batch_size):  # as plain predict's --batch-size
            chunk = files[start : start + self.batch_size]
            try:
                results += self.recognizer.predict_batch(chunk, errors="record")
            except Exception:  # noqa: BLE001 - one bad input must not sink its batch: find it, alone
                results += [self._alone(file) for file in chunk]
        return [faces.to_record(file) for file, faces in zip(files, results)]

    def _alone(self, file: str):  # noqa: ANN202 - an ImageFaces
        from gclenet.inference.recognizer import ImageFaces

        try:
            return self.recognizer.predict_batch([file], errors="record")[0]
        except Exception as err:  # noqa: BLE001 - recorded as the input's error, not retried forever
            return ImageFaces(error=f"{type(err).__name__}: {err}")

    def __call__(self, batch: Any) -> dict[str, list[int]]:
        files = [str(f) for f in batch["file"].to_pylist()]
        records = self._records(files)
        written = parquet_store.write_part(self.out, files, parquet_store.records_table(records, self.classes),
                                           self.run_id)
        return {"inputs": [len(files) if written else 0],
                "faces": [sum(len(r.get("faces", [])) for r in records) if written else 0],
                "no_face": [sum(1 for r in records if r.get("faces") == []) if written else 0],
                "errors": [sum(1 for r in records if "error" in r) if written else 0]}


def _connect(address: str | None) -> None:
    import logging

    import ray

    if not ray.is_initialized():  # else: the caller's Ray (a test's local cluster, a notebook's session)
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR)
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its "execution finished" would trail our summary


def _paths_dataset(files: list[str], part_size: int):  # noqa: ANN202 - a ray.data.Dataset
    """The paths as a Ray dataset of Arrow blocks, one per part.

    Arrow strings, not one Python dict per path (``from_items``): the driver's memory stays
    small for a million inputs. A block per part: a block redone after a failure is the same
    part again, and replaces its own file (named by its inputs).
    """
    import pyarrow as pa
    import ray.data

    return ray.data.from_arrow([pa.table({"file": files[start : start + part_size]})
                                for start in range(0, len(files), part_size)])


def recognise_on_ray(files: Sequence[str], out: str | Path, settings: dict[str, Any], *, workers: int | None = None,
                     threads: int = 1, batch_size: int = 16, part_size: int = PART_SIZE,
                     address: str | None = None, progress: bool = True) -> RunSummary:
    """Recognise ``files`` (image paths) on Ray, the results as Parquet parts under ``out``.

    Inputs whose results ``out`` already holds are skipped: rerunning after a kill does the rest.

    Args:
        files: image paths (each done once however often it is named).
        out: the results folder (a shared filesystem path on a cluster: the actors write to it).
        settings: :class:`~gclenet.inference.recognizer.Recognizer` keyword arguments; also the
            manifest's record of what the results were made with.
        workers: Recognizer actors (default: one per ``threads`` CPUs that Ray reports).
        threads: threads of each actor (``OMP_NUM_THREADS``, also ONNX Runtime's).
        batch_size: images per ``predict_batch`` call (detection batch), as plain predict's.
        part_size: images per part file, and per Ray task.
        address: a Ray cluster (``auto``, ``ray://host:10001``); ``None`` starts Ray locally
            unless this process is already connected.
        progress: draw a progress bar on stderr.

    Raises:
        ModuleNotFoundError: ray is not installed (the ``[scale]`` extra).
        parquet_store.SettingsMismatch: ``out`` holds results made with other settings.
    """
    import ray.data  # first: without the [scale] extra, stop before anything is written
    from tqdm import tqdm

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = list(dict.fromkeys(str(f) for f in files))
    finished = parquet_store.finished_files(out)
    remaining = [f for f in files if f not in finished]
    run_id = parquet_store.begin_run(out, settings, inputs=len(files), skipped=len(files) - len(remaining))
    counts = dict.fromkeys(("inputs", "faces", "no_face", "errors"), 0)
    if remaining:
        _connect(address)
        # What is free now (another job may hold some), else all the cluster has.
        cpus = float(ray.available_resources().get("CPU") or ray.cluster_resources().get("CPU", 1.0))
        workers = max(1, min(workers or int(cpus // threads) or 1, len(remaining)))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours below counts faces; Ray's would draw over it
        context.print_on_execution_start = False
        results = _paths_dataset(remaining, part_size).map_batches(
            RecognizerWorker, fn_constructor_kwargs={"settings": settings, "out": str(out), "run_id": run_id,
                                                     "batch_size": batch_size},
            batch_size=part_size, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=actor_cpus(cpus, workers, threads),
            # A CUDA Recognizer per GPU (untested here: no GPU on the machine the tests run on).
            num_gpus=1 if str(settings.get("device", "")).startswith("cuda") else None,
            # Failures: Ray Data restarts a dead actor and redoes its batch (max_restarts=-1 by
            # default); an input that fails by itself is an error row (RecognizerWorker), not retried.
            # Each actor's math libraries get `threads` threads, not one per core each (oversubscribed).
            runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}})
        bar = tqdm(total=len(remaining), unit="img", desc="images", disable=not progress, file=sys.stderr)
        for batch in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            for key in counts:
                counts[key] += sum(batch[key].to_pylist())
            bar.update(sum(batch["inputs"].to_pylist()))
            bar.set_postfix_str(f"{counts['faces'] / max(bar.format_dict['elapsed'], 1e-9):.1f} faces/s")
        bar.close()
    summary = RunSummary(inputs=len(files), skipped=len(files) - len(remaining), processed=counts["inputs"],
                         faces=counts["faces"], no_face=counts["no_face"], errors=counts["errors"],
                         wall_s=round(time.perf_counter() - started, 3))
    parquet_store.finish_run(out, run_id, asdict(summary))
    return summary
