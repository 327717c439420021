"""Expanding command-line inputs (files, folders, globs) into images and videos."""

from __future__ import annotations

import glob
from pathlib import Path

from gclenet.data.folders import list_images
from gclenet.data.image_io import IMAGE_SUFFIXES

__all__ = ["expand_inputs", "expand_each", "read_input_list", "VIDEO_SUFFIXES", "is_video", "write_example_photo",
           "EXAMPLE_PHOTO"]

# The demo's photo, as scikit-image distributes it (512x512), stored as a JPEG (65 KB) so that
# the core install runs `gclenet demo` without scikit-image.
EXAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "assets" / "astronaut.jpg"
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """``(files, problems)``: images and videos found, and ``(input, reason)`` for each input that gave none.

    Folders are searched recursively (symlink loops are not followed); globs are
    expanded; explicitly named files are kept whatever their suffix, so that a bad
    file is reported by the decoder instead of silently skipped.
    """
    expanded = expand_each(inputs)
    files = [file for _, found, _ in expanded for file in found]
    return files, [(item, reason) for item, _, reason in expanded if reason is not None]


def expand_each(inputs: list[str]) -> list[tuple[str, list[Path], str | None]]:
    """Per input, in order: ``(input, the files it names, why it names none or None)``, as
    :func:`expand_inputs` finds them (what keeps results in the order of the inputs)."""
    expanded: list[tuple[str, list[Path], str | None]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = [p for p in list_images(path)] + sorted(
                p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            reason = None if found else (f"folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos "
                                         f"({', '.join(sorted(VIDEO_SUFFIXES))})")
            expanded.append((item, found, reason))
        elif path.exists():
            expanded.append((item, [path], None))
        elif any(ch in item for ch in "*?["):
            matched = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            expanded.append((item, matched, None if matched else "pattern matches no file"))
        else:
            expanded.append((item, [], "no such file or folder"))
    return expanded


def read_input_list(path: str | Path, column: str = "file") -> list[str]:
    """The inputs a list names: a text file (one path per line; blank and ``#`` lines skipped), or
    ``column`` of a CSV or Parquet file (``file`` by default: the column of gclenet's own outputs).

    Raises:
        ValueError: the file cannot be read, or has no such column (one line, naming it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq  # the [scale] extra's, only for a Parquet list

            table = pq.read_table(path)
            if column not in table.column_names:
                raise ValueError(f"{path}: no column {column!r} (it has {', '.join(table.column_names)})")
            values = table[column].to_pylist()
        elif suffix == ".csv":
            import csv

            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                if column not in (reader.fieldnames or []):
                    raise ValueError(f"{path}: no column {column!r} (it has {', '.join(reader.fieldnames or [])})")
                values = [row[column] for row in reader]
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            values = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise ValueError(f"{path}: cannot be read as a list of inputs ({reason})") from None
    # dict.fromkeys: each input once (a gclenet output lists a file once per face), in order
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def write_example_photo(folder: str | Path) -> Path:
    """The example photo that ships in the package (NASA's portrait of astronaut Eileen Collins,
    public domain: one smiling face) copied to ``folder/astronaut.jpg``; no network, no extra."""
    from gclenet.fileio import atomic_write_bytes

    data = EXAMPLE_PHOTO.read_bytes()
    path = Path(folder) / EXAMPLE_PHOTO.name
    atomic_write_bytes(path, lambda handle: handle.write(data))
    return path
