"""CK+ (Lucey et al., 2010), as the CK+48 folders or as the original release.

* CK+48: ``<root>/{anger,contempt,disgust,fear,happy,sadness,surprise}/S005_001_00000011.png``.
* Original: ``cohn-kanade-images/S005/001/*.png`` with labels in
  ``Emotion/S005/001/S005_001_<frame>_emotion.txt`` (0 neutral, 1 anger, 2 contempt,
  3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise); the last ``last_frames`` frames
  of each labelled sequence take its label, and with ``neutral_first_frame`` its first
  frame is a neutral sample.

CK+ has no official split. ``folds`` splits into k parts (5 = the paper's 4:1) and
``fold`` picks the test part; ``protocol="subject"`` keeps every person on one side
(frames of one sequence are near-duplicates, so ``"image"`` leaks across the split).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from gclenet.data.classes import CANONICAL_CLASSES, index_of
from gclenet.data.registry import Sample, register_dataset
from gclenet.data.folders import DatasetLayoutError, list_images, read_class_folders

__all__ = ["read_ckplus", "kfold_split", "CKPLUS_LABELS"]

CKPLUS_LABELS = {0: "neutral", 1: "angry", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sad", 7: "surprise"}
LAYOUT = "CK+48 class folders (anger, contempt, ...) or cohn-kanade-images/ + Emotion/"


def kfold_split(samples: Sequence[Sample], split: str, *, folds: int, fold: int, protocol: str, seed: int) -> list[Sample]:
    """The ``train`` or ``test`` part of a seeded k-fold partition, by image or by subject."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"CK+ splits are train, test and all, got {split!r}")
    if split == "all":
        return list(samples)
    if not 0 <= fold < folds or folds < 2:
        raise ValueError(f"need 0 <= fold < folds and folds >= 2, got fold={fold}, folds={folds}")
    if protocol == "subject":
        if any(s.subject is None for s in samples):
            raise ValueError("protocol 'subject' needs S<subject>_... file names")
        keys = sorted({s.subject for s in samples})
    elif protocol == "image":
        keys = list(range(len(samples)))
    else:
        raise ValueError(f"protocol must be 'image' or 'subject', got {protocol!r}")
    random.Random(seed).shuffle(keys)
    test_keys = set(keys[fold::folds])
    pick = (lambda i, s: s.subject in test_keys) if protocol == "subject" else (lambda i, s: i in test_keys)
    return [s for i, s in enumerate(samples) if pick(i, s) == (split == "test")]


def _read_original(root: Path, classes: Sequence[str], last_frames: int, neutral_first_frame: bool) -> list[Sample]:
    wanted = index_of(classes)
    images, emotions = root / "cohn-kanade-images", root / "Emotion"
    samples = []
    for label_file in sorted(emotions.glob("S*/*/*_emotion.txt")):
        try:
            code = int(float(label_file.read_text().split()[0]))
            name = CKPLUS_LABELS[code]
        except (ValueError, IndexError, KeyError):
            raise DatasetLayoutError(f"{label_file}: expected one emotion code 0-7") from None
        subject, sequence = label_file.parent.parent.name, label_file.parent.name
        frames = list_images(images / subject / sequence)
        if not frames:
            raise DatasetLayoutError(f"{images / subject / sequence}: no frames for {label_file.name}")
        # The onset frame is neutral: it never carries the sequence's emotion when it is
        # also taken as neutral, however short the sequence.
        peak = frames[1:] if neutral_first_frame else frames
        if name in wanted:
            samples += [Sample(f, wanted[name], subject) for f in peak[len(peak) - min(last_frames, len(peak)):]]
        if neutral_first_frame and "neutral" in wanted:
            samples.append(Sample(frames[0], wanted["neutral"], subject))
    if not samples:
        raise DatasetLayoutError(f"{emotions}: no labelled sequences; expected {LAYOUT}")
    return samples


@register_dataset("ckplus", classes=CANONICAL_CLASSES, grayscale=True, layout=LAYOUT)
def read_ckplus(
    root: str | Path,
    split: str,
    classes: Sequence[str] = CANONICAL_CLASSES,
    *,
    folds: int = 5,
    fold: int = 0,
    protocol: str = "subject",
    seed: int = 0,
    last_frames: int = 3,
    neutral_first_frame: bool = False,
) -> list[Sample]:
    root = Path(root)
    if last_frames < 1:
        raise ValueError(f"last_frames must be 1 or more (the labelled peak frames of each sequence), "
                         f"got {last_frames}")
    if (root / "cohn-kanade-images").is_dir() and (root / "Emotion").is_dir():
        samples = _read_original(root, classes, last_frames, neutral_first_frame)
    elif root.is_dir():
        samples = read_class_folders(root, classes, expected=LAYOUT)
    else:
        raise DatasetLayoutError(f"{root}: no such directory; expected {LAYOUT}")
    return kfold_split(samples, split, folds=folds, fold=fold, protocol=protocol, seed=seed)
