"""Tiny fixtures in the real distributed layouts of each data set (generated, never copied)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, value: int = 128, size: int = 12, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size, size) if mode == "L" else (size, size, 3)
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(path)
    return path


def fer2013_csv(root: Path, rows: list[tuple[int, str]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    for i, (emotion, usage) in enumerate(rows):
        lines.append(f"{emotion},{' '.join(str((i + j) % 256) for j in range(48 * 48))},{usage}")
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    return root


def class_folders(root: Path, counts: dict[str, int], suffix: str = ".jpg", mode: str = "L", prefix: str = "img") -> Path:
    for name, count in counts.items():
        for i in range(count):
            write_image(root / name / f"{prefix}_{i:04d}{suffix}", value=i, mode=mode)
    return root


def rafdb_original(root: Path, entries: list[tuple[str, int]]) -> Path:
    lines = []
    for name, label in entries:
        stem = name.rsplit(".", 1)[0]
        write_image(root / "Image" / "aligned" / f"{stem}_aligned.jpg", mode="RGB")
        lines.append(f"{name} {label}")
    (root / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return root


def ckplus48(root: Path, subjects: int = 6, per_class: int = 2) -> Path:
    folders = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    for s in range(subjects):
        for c, folder in enumerate(folders):
            for frame in range(per_class):
                write_image(root / folder / f"S{100 + s:03d}_{c + 1:03d}_{frame + 10:08d}.png", value=s * 10 + frame)
    return root


def ckplus_original(root: Path, sequences: dict[tuple[str, str], int], frames: int = 5) -> Path:
    for (subject, sequence), code in sequences.items():
        for f in range(1, frames + 1):
            write_image(root / "cohn-kanade-images" / subject / sequence / f"{subject}_{sequence}_{f:08d}.png", value=f)
        label = root / "Emotion" / subject / sequence / f"{subject}_{sequence}_{frames:08d}_emotion.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(f"   {code:.7e}\n")
    return root


FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def ferplus_folders(root: Path, splits: dict[str, list[list[int]]]) -> Path:
    """FER+'s script layout: ``FER2013<Split>/`` with PNGs and a headerless ``label.csv``;
    ``splits`` maps a folder suffix (Train, Valid, Test) to rows of ten vote counts."""
    for suffix, rows in splits.items():
        folder = root / f"FER2013{suffix}"
        lines = []
        for i, votes in enumerate(rows):
            name = f"fer{i:07d}.png"
            write_image(folder / name, value=i, size=48)
            lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(str(v) for v in votes))
        (folder / "label.csv").write_text("\n".join(lines) + "\n")
    return root


def ferplus_csv_pair(root: Path, rows: list[tuple[str, list[int]]]) -> Path:
    """Kaggle's ``fer2013.csv`` beside Microsoft's ``fer2013new.csv``: ``rows`` of (usage, votes);
    an empty vote list marks a row FER+ left unnamed (not a face)."""
    fer2013_csv(root, [(0, usage) for usage, _ in rows])
    lines = [FERPLUS_HEADER]
    for i, (usage, votes) in enumerate(rows):
        name = f"fer{i:07d}.png" if votes else ""
        lines.append(f"{usage},{name}," + ",".join(str(v) for v in (votes or [0] * 8 + [0, 10])))
    (root / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    return root
