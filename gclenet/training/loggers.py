"""A CSV logger that keeps a run's history across ``--resume`` and survives being killed.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when a logger starts in a
non-empty directory, so a resumed run would lose its earlier epochs (and the training
curves with them). This one appends instead. It also never truncates the file in place:
Lightning rewrites the whole file whenever a new metric name appears (at the end of the
first epoch, for instance), and a run killed during that rewrite lost every earlier row.
"""

from __future__ import annotations

import csv
import io
import os

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from gclenet.fileio import atomic_write_bytes

__all__ = ["ResumableCSVLogger"]


def _drop_partial_last_line(path: str) -> None:
    """A run killed while appending leaves a last line without its newline: cut it off,
    or the resumed run's first row would be glued to it."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data and not data.endswith(b"\n"):
        keep = data[: data.rfind(b"\n") + 1]
        atomic_write_bytes(path, lambda handle: handle.write(keep))


class _AppendingWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            _drop_partial_last_line(self.metrics_file_path)
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])

    def _check_log_dir_exists(self) -> None:
        pass  # keep metrics.csv: a resumed run appends to its history

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        _rewrite(self.metrics_file_path, fieldnames, rows)


def _rewrite(path: str, fieldnames: list[str], rows: list[dict[str, str]]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, lambda handle: handle.write(text.getvalue().encode()))


class ResumableCSVLogger(CSVLogger):
    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    def forget_from_step(self, step: int) -> None:
        """Drop the rows of ``step`` and later: what a killed run logged after the checkpoint
        that a resumed run starts from, and is about to log again."""
        path = self.experiment.metrics_file_path
        if not os.path.isfile(path):
            return
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = [row for row in reader if not row.get("step") or int(float(row["step"])) < step]
        _rewrite(path, list(reader.fieldnames or []), rows)
