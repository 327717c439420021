"""Expanding command-line inputs (files, folders, globs) into images and videos."""

from __future__ import annotations

import glob
from pathlib import Path

from gclenet.data.folders import list_images
from gclenet.data.image_io import IMAGE_SUFFIXES

__all__ = ["expand_inputs", "VIDEO_SUFFIXES", "is_video", "write_example_photo"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """``(files, problems)``: images and videos found, and one line per input that gave none.

    Folders are searched recursively (symlink loops are not followed); globs are
    expanded; explicitly named files are kept whatever their suffix, so that a bad
    file is reported by the decoder instead of silently skipped.
    """
    files: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = [p for p in list_images(path)] + sorted(
                p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            if not found:
                problems.append(f"{path}: folder holds no images or videos ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif path.exists():
            files.append(path)
        elif any(ch in item for ch in "*?["):
            matched = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matched:
                problems.append(f"{item}: pattern matches no file")
            files += matched
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def write_example_photo(folder: str | Path) -> Path:
    """scikit-image's ``astronaut`` (one smiling face; it ships with the package) as ``folder/astronaut.png``."""
    import io

    from PIL import Image
    from skimage import data

    from gclenet.fileio import atomic_write_bytes

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    path = Path(folder) / "astronaut.png"
    atomic_write_bytes(path, lambda handle: handle.write(buffer.getvalue()))
    return path
