"""FER+ (Barsoum et al. 2016, arXiv 1608.01041): FER2013's faces relabelled by 10 annotators.

Two layouts, as users get them:

* the folders FER+'s own ``generate_training_data.py`` writes: ``FER2013Train/``,
  ``FER2013Valid/``, ``FER2013Test/``, each with 48x48 PNGs and a headerless
  ``label.csv``: ``image, "(x, y, w, h)" face box, ten vote counts``;
* Kaggle's ``fer2013.csv`` (pixels) beside Microsoft's ``fer2013new.csv`` (header
  ``Usage,Image name,<ten vote columns>``, one row per ``fer2013.csv`` row, same order).

The vote columns are neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown, NF (not a face). :func:`process_votes` is the FER+ script's
``_process_data``: a single vote is dropped as noise, and a row is excluded when its
votes go mostly to unknown or not-a-face or (majority mode) no class has more than half
of what is left. The label modes are the paper's four: ``majority`` (one-hot),
``probability`` (a class drawn from the distribution each time the image is used),
``crossentropy`` (the distribution as a soft target) and ``multi_target`` (every class
with at least 30 % of the votes is right).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gclenet.data.classes import CANONICAL_CLASSES, index_of
from gclenet.data.registry import Sample, register_dataset
from gclenet.data.folders import DatasetLayoutError

__all__ = ["FERPLUS_VOTE_COLUMNS", "LABEL_MODES", "process_votes", "read_ferplus"]

FERPLUS_VOTE_COLUMNS = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt",
                        "unknown", "not_a_face")
LABEL_MODES = ("majority", "probability", "crossentropy", "multi_target")
_EMOTIONS = len(FERPLUS_VOTE_COLUMNS) - 2  # the last two are not expressions
LAYOUT = ("FER2013Train/ FER2013Valid/ FER2013Test/ with PNGs and label.csv (FER+'s script), "
          "or fer2013.csv beside fer2013new.csv")
_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


def process_votes(votes: Sequence[float], mode: str = "majority") -> np.ndarray | None:
    """FER+'s label processing of one row's ten vote counts.

    Returns:
        The target over the eight expression columns (FER+ order, summing to 1), or
        ``None`` where FER+ excludes the row (unknown, not a face, or no agreement).
    """
    if mode not in LABEL_MODES:
        raise ValueError(f"label mode {mode!r}; valid: {', '.join(LABEL_MODES)}")
    raw = np.asarray(votes, dtype=np.float64).copy()
    raw[raw <= 1.0] = 0.0  # one annotator alone is noise
    total = raw.sum()
    if total <= 0:
        return None
    target = np.zeros_like(raw)
    if mode == "majority":
        if raw.max() > 0.5 * total:
            target[int(np.argmax(raw))] = 1.0
    elif mode == "multi_target":
        kept = raw >= 0.3 * total
        if raw[kept].sum() > 0.5 * total:
            target[kept] = raw[kept]
    else:  # probability, crossentropy: the top classes up to 75 % of the votes, at most three
        remaining, taken, count, valid = raw.copy(), 0.0, 0, True
        while taken < 0.75 * total and count < 3 and valid:
            peak = remaining.max()
            for i in range(len(remaining)):
                if remaining[i] != peak:
                    continue
                target[i], remaining[i] = peak, 0.0
                taken += peak
                count += 1
                if i >= _EMOTIONS:  # unknown or not-a-face ties for the top: stop there
                    valid = False
                    if target.sum() > peak:  # other classes came first: they stand
                        target[i] = 0.0
                        count -= 1
                    break
        if target.sum() <= 0.5 * total or count > 3:
            target[:] = 0.0
    if target.sum() <= 0 or int(np.argmax(target)) >= _EMOTIONS:
        return None
    emotions = target[:_EMOTIONS]
    return emotions / emotions.sum()


def _class_columns(classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which vote columns feed which of ``classes`` (columns of other classes are dropped)."""
    wanted = index_of(classes)
    columns = [i for i, name in enumerate(FERPLUS_VOTE_COLUMNS[:_EMOTIONS]) if name in wanted]
    return np.array(columns, dtype=np.int64), np.array([wanted[FERPLUS_VOTE_COLUMNS[i]] for i in columns])


def _votes(fields: Sequence[str], where: str) -> np.ndarray:
    try:
        votes = np.array([float(v) for v in fields], dtype=np.float64)
    except ValueError:
        votes = np.array([-1.0])
    if votes.size != len(FERPLUS_VOTE_COLUMNS) or not np.all(np.isfinite(votes)) or votes.min() < 0:
        raise DatasetLayoutError(f"{where}: expected {len(FERPLUS_VOTE_COLUMNS)} vote counts "
                                 f"({', '.join(FERPLUS_VOTE_COLUMNS)}), got {list(fields)}; "
                                 "regenerate the labels with FER+'s generate_training_data.py")
    return votes


def _sample(source: Path | np.ndarray, votes: np.ndarray, mode: str, classes: Sequence[str],
            origin: str | None = None) -> Sample | None:
    """A sample of ``classes`` from one row, or ``None`` where the row is excluded or of another class."""
    emotions = process_votes(votes, mode)
    if emotions is None:
        return None
    columns, indices = _class_columns(classes)
    majority = int(np.argmax(emotions))  # the row's label (ties: FER+ column order, as its script)
    if majority not in columns:
        return None  # e.g. contempt when the task has the 7 basic classes
    target = np.zeros(len(classes), dtype=np.float32)
    target[indices] = emotions[columns]
    target /= target.sum()
    label = int(indices[list(columns).index(majority)])
    return Sample(source, label, target=tuple(target.tolist()) if mode != "majority" else None, origin=origin)


def _read_label_csv(folder: Path, mode: str, classes: Sequence[str]) -> list[Sample]:
    label_file = folder / "label.csv"
    if not label_file.is_file():
        raise DatasetLayoutError(f"{folder}: no label.csv; expected {LAYOUT}")
    samples = []
    with open(label_file, newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            where = f"{label_file}:{line_number}"
            if len(row) != 2 + len(FERPLUS_VOTE_COLUMNS):
                raise DatasetLayoutError(f"{where}: {len(row)} fields, expected 12 (image, face box, ten votes); "
                                         "regenerate the labels with FER+'s generate_training_data.py")
            votes = _votes(row[2:], where)
            image = folder / row[0].strip()
            if not image.is_file():
                raise DatasetLayoutError(f"{where}: image {image.name} is missing from {folder}; "
                                         "rerun FER+'s generate_training_data.py to write it")
            sample = _sample(image, votes, mode, classes)
            if sample is not None:
                samples.append(sample)
    return samples


def _read_csv_pair(root: Path, split: str, mode: str, classes: Sequence[str]) -> list[Sample]:
    pixels_file, votes_file = root / "fer2013.csv", root / "fer2013new.csv"
    with open(votes_file, newline="") as handle:
        vote_rows = list(csv.reader(handle))  # small; the pixels file is read as it streams
    header = vote_rows[0] if vote_rows else []
    if len(header) != 2 + len(FERPLUS_VOTE_COLUMNS) or header[0].strip() != "Usage":
        raise DatasetLayoutError(f"{votes_file}:1: header {header}; expected Usage,Image name,neutral,...,NF "
                                 "(Microsoft's fer2013new.csv)")
    samples = []
    rows = 0
    with open(pixels_file, newline="") as handle:
        pixel_rows = csv.DictReader(handle)
        if not {"pixels", "Usage"} <= set(pixel_rows.fieldnames or ()):
            raise DatasetLayoutError(f"{pixels_file}: columns {pixel_rows.fieldnames}; expected emotion,pixels,Usage")
        for rows, pixel_row in enumerate(pixel_rows, start=1):
            line_number = rows + 1
            if rows >= len(vote_rows):
                break
            vote_row, where = vote_rows[rows], f"{votes_file}:{line_number}"
            if len(vote_row) != 2 + len(FERPLUS_VOTE_COLUMNS):
                raise DatasetLayoutError(f"{where}: {len(vote_row)} fields, expected 12 (Usage, Image name, ten votes)")
            if vote_row[0].strip() != pixel_row["Usage"]:
                raise DatasetLayoutError(f"{where}: usage {vote_row[0]!r} but {pixels_file.name} line {line_number} "
                                         f"says {pixel_row['Usage']!r}; the two files must be in the same row order")
            if pixel_row["Usage"] != _USAGE[split]:
                continue
            votes = _votes(vote_row[2:], where)
            if not vote_row[1].strip():  # FER+ left the name empty where the image is not a face
                continue
            try:
                pixels = np.array(pixel_row["pixels"].split(), dtype=np.int64)
            except ValueError:
                pixels = np.array([-1])
            if pixels.size != 48 * 48 or pixels.min() < 0 or pixels.max() > 255:
                raise DatasetLayoutError(f"{pixels_file}:{line_number}: expected 2304 pixel values 0-255 (48x48)")
            sample = _sample(pixels.astype(np.uint8).reshape(48, 48), votes, mode, classes,
                             origin=f"{pixels_file}:{line_number}")
            if sample is not None:
                samples.append(sample)
    if rows != len(vote_rows) - 1:
        raise DatasetLayoutError(f"{votes_file}: {len(vote_rows) - 1} rows but {pixels_file.name} has "
                                 f"{'more' if rows >= len(vote_rows) else rows}; use the fer2013new.csv made for "
                                 "this fer2013.csv (one row per face, same order)")
    return samples


@register_dataset("ferplus", classes=CANONICAL_CLASSES, grayscale=True, layout=LAYOUT, splits=("train", "val", "test"))
def read_ferplus(root: str | Path, split: str, classes: Sequence[str] = CANONICAL_CLASSES, *,
                 label_mode: str = "majority") -> list[Sample]:
    """Samples of FER+ ``split`` (``train``, ``val`` or ``test``) under ``root``, labelled by ``label_mode``.

    Every sample's ``label`` is its majority class; in the other modes its ``target``
    is the processed vote distribution over ``classes``.
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"FER+ label_mode {label_mode!r}; valid: {', '.join(LABEL_MODES)}")
    if split not in _FOLDERS:
        raise ValueError(f"FER+ splits are train, val, test; got {split!r}")
    root = Path(root)
    if (root / "fer2013new.csv").is_file() and (root / "fer2013.csv").is_file():
        return _read_csv_pair(root, split, label_mode, classes)
    folder = root / _FOLDERS[split]
    if not folder.is_dir():
        raise DatasetLayoutError(f"{root}: no {_FOLDERS[split]}/ for split {split!r}; expected {LAYOUT}")
    return _read_label_csv(folder, label_mode, classes)
