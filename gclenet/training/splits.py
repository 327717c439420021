"""What trained weights are evaluated on, and whether they trained on any of it.

Checkpoints (and weights exported from them) record the data options they were trained
with (``WeightsInfo.data``: data set, root, splits, reader options, seed). Evaluation
takes what it is not told from there, so a CK+ model trained on the image protocol is
tested on the image protocol's test fold without repeating ``--option protocol=image``;
and it compares the images it is about to score with the images the run trained on, so
that a split that overlaps the training set is refused (or, when asked, reported) instead
of scored as if it were a test.

A run that validated on a held-out part of its training split (``data.holdout_fraction``,
as ``gclenet finetune`` does on a folder without a test part) is scored by default on
exactly that part: the record has the fraction, the seed and the rule that drew it
(``select_samples``). ``split="held-out"`` names it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gclenet.data import DatasetLayoutError, Sample, read_split
from gclenet.models import WeightsInfo
from gclenet.training.config import TrainConfig, config_from_dict
from gclenet.training.datamodule import select_samples

__all__ = ["EvaluationSplit", "HELD_OUT", "evaluation_split", "recorded_holdout", "evaluation_samples",
           "training_samples", "training_overlap", "check_overlap"]

HELD_OUT = "held-out"  # the split name of the part of the training split a run held out to validate on


@dataclass(frozen=True)
class EvaluationSplit:
    dataset: str
    root: str
    split: str
    options: dict[str, Any] = field(default_factory=dict)
    held_out: float = 0.0  # > 0: only the part of ``split`` the run held out (this fraction), not all of it

    def describe(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()) if k != "parts")
        held = f", the {self.held_out:.0%} the run held out" if self.held_out else ""
        return f"{self.dataset} {self.split}" + (f" ({options}{held})" if options else f" ({held[2:]})" if held else "")


def _trained_config(info: WeightsInfo) -> TrainConfig | None:
    """The run's data config and seed, from the record (``None`` where the weights have none)."""
    if not isinstance(info.data, dict) or "dataset" not in info.data:
        return None
    data = dict(info.data)
    seed = data.pop("seed", None)
    return config_from_dict({"data": data} if seed is None else {"data": data, "seed": seed})


def recorded_holdout(info: WeightsInfo, dataset: str | None = None) -> float:
    """The fraction of its training split the run behind ``info`` held out (0 where it held none
    out, where the record names no training data, or where ``dataset`` is another data set)."""
    trained = _trained_config(info)
    same = trained is not None and dataset in (None, trained.data.dataset)
    return trained.data.holdout_fraction if same else 0.0


def evaluation_split(info: WeightsInfo, dataset: str | None = None, root: str | Path | None = None,
                     split: str | None = None, options: dict[str, Any] | None = None) -> EvaluationSplit:
    """What to evaluate on: what is given, the rest as the weights were trained (for the data
    set they were trained on: its root, its validation split and its reader options,
    ``options`` given here replacing theirs). Without a record, ``dataset`` and ``root``
    must be given and ``split`` defaults to ``test``.

    A run that validated on a held-out part of its training split, and whose recorded
    validation split is that training split (nothing else was left unseen), is evaluated
    on the held-out part by default; ``split="held-out"`` asks for it by name.

    Raises:
        ValueError: no data set or root given and none recorded; ``held-out`` asked of
            weights that held nothing out.
    """
    trained = _trained_config(info)
    dataset = dataset or (trained.data.dataset if trained else None)
    if dataset is None:
        raise ValueError("these weights record no training data; pass --dataset and --root")
    same = trained is not None and trained.data.dataset == dataset
    root = root if root is not None else (trained.data.root if same else None)
    if root is None:
        raise ValueError(f"pass --root: where {dataset} is (these weights were trained on another data set)")
    recorded = trained.data.reader_options(train=False) if same else {}
    held_out = recorded_holdout(info, dataset)
    if split == HELD_OUT and not held_out:
        raise ValueError(f"--split {HELD_OUT}: these weights held out no images of {dataset} "
                         "(they were validated on a split of their own)")
    if held_out and (split == HELD_OUT or (split is None and trained.data.val_split == trained.data.train_split)):
        return EvaluationSplit(dataset, str(root), trained.data.train_split, {**recorded, **(options or {})},
                               held_out=held_out)
    split = split or (trained.data.val_split if same else "test")
    return EvaluationSplit(dataset, str(root), split, {**recorded, **(options or {})})


def evaluation_samples(info: WeightsInfo, where: EvaluationSplit) -> list[Sample]:
    """The images of ``where``: its split as read, or the part of it the run held out, drawn
    again from the record (fraction, seed, reader options) as training drew it."""
    if not where.held_out:
        return read_split(where.dataset, where.root, where.split, info.classes, **where.options)
    trained = _trained_config(info)
    options = {k: v for k, v in where.options.items() if k != "parts"}
    data = replace(trained.data, root=where.root, options=options)
    return select_samples(data, info.classes, seed=trained.seed, train=False)


def training_samples(info: WeightsInfo) -> list[Sample] | None:
    """The images the weights were trained on, drawn again from the record (``None``: it names none)."""
    trained = _trained_config(info)
    return None if trained is None else select_samples(trained.data, info.classes, seed=trained.seed, train=True)


def _identity(sample: Sample) -> str:
    # Files by their real path; pixels read from a CSV by file and row (FER2013 has equal
    # faces in its Training and test rows: equal is not the same image).
    if isinstance(sample.source, np.ndarray):
        return sample.origin or hashlib.sha256(np.ascontiguousarray(sample.source).tobytes()).hexdigest()
    return str(Path(sample.source).resolve())


def training_overlap(info: WeightsInfo, samples: list[Sample]) -> dict[str, Any]:
    """How many of ``samples`` the weights were trained on, as far as the record tells.

    Returns:
        ``{"checked": True, "images": n, "of": len(samples), "training_set": ..., "examples": [...]}``,
        or ``{"checked": False, "reason": ...}`` when the record names no training data or
        the training data cannot be read here.
    """
    trained = _trained_config(info)
    if trained is None:
        return {"checked": False, "reason": "the weights record no training data"}
    try:
        seen = {_identity(s) for s in training_samples(info) or []}
    except (DatasetLayoutError, OSError, ValueError, KeyError) as err:
        return {"checked": False, "reason": f"the training data cannot be read here ({str(err).splitlines()[0]})"}
    shared = [s for s in samples if _identity(s) in seen]
    training_set = EvaluationSplit(trained.data.dataset, trained.data.root, trained.data.train_split,
                                   trained.data.reader_options(train=False)).describe()
    if trained.data.holdout_fraction:
        training_set += f" less its held-out {trained.data.holdout_fraction:.0%}"
    return {"checked": True, "images": len(shared), "of": len(samples), "training_set": training_set,
            "examples": [s.origin or s.name for s in shared[:3]]}


def check_overlap(overlap: dict[str, Any], where: EvaluationSplit, weights: str | Path, *, allow: bool) -> None:
    """Refuse to score a split the weights trained on, unless ``allow`` (then the report names it).

    Raises:
        ValueError: some of the split's images are in the training set, naming how many and where.
    """
    if overlap.get("images") and not allow:
        raise ValueError(
            f"{overlap['images']} of the {overlap['of']} images of {where.describe()} are in the training set of "
            f"{weights} ({overlap['training_set']}), e.g. {overlap['examples'][0]}; evaluate on a split it did not "
            "train on (by default, the one it was validated on, with its options), or pass --allow-overlap to "
            "score it anyway and have the overlap reported")
