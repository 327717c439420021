"""Readers for data sets distributed as ``<split>/<class>/<image>`` folders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from gclenet.data.classes import canonical_name, index_of
from gclenet.data.registry import Sample
from gclenet.data.image_io import IMAGE_SUFFIXES

__all__ = ["DatasetLayoutError", "find_split_dir", "read_class_folders", "list_images"]


class DatasetLayoutError(FileNotFoundError):
    """The root does not look like the data set's distributed layout."""


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; symlink loops are not followed."""
    found, seen = [], set()
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                found.append(path)
    return found


def find_split_dir(root: Path, split: str, aliases: Mapping[str, Sequence[str]], expected: str) -> Path:
    """``root/<split>`` under any accepted alias (``test`` may be called ``val``...)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: no such directory; expected {expected}")
    for name in aliases.get(split, (split,)):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    raise DatasetLayoutError(
        f"{root}: no '{split}' split folder (tried {', '.join(aliases.get(split, (split,)))}); expected {expected}"
    )


def read_class_folders(
    split_dir: Path,
    classes: Sequence[str],
    folder_to_class: Mapping[str, str] | None = None,
    *,
    expected: str,
) -> list[Sample]:
    """Samples from ``split_dir/<class folder>/**/<image>``.

    Args:
        split_dir: the split's folder.
        classes: the task's class list; folders of other classes are skipped.
        folder_to_class: folder name -> class name; default: expression aliases.
        expected: layout description for error messages.

    Raises:
        DatasetLayoutError: no class folder, or no image in any of them.
    """
    # Class names compare as the class list does: expression names canonically ("Happy" is
    # happy), your own names without regard to case ("Frown/" is the class "frown").
    wanted = {_class_key(name): index for name, index in index_of(classes).items()}
    samples: list[Sample] = []
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
    if not class_dirs:
        raise DatasetLayoutError(f"{split_dir}: no class folders; expected {expected}")
    for folder in class_dirs:
        name = folder_to_class.get(folder.name) if folder_to_class is not None else folder.name
        if name is None or _class_key(name) not in wanted:
            continue
        samples += [Sample(path, wanted[_class_key(name)], subject_of(path)) for path in list_images(folder)]
    if not samples:
        raise DatasetLayoutError(
            f"{split_dir}: no images in folders named after the classes {list(classes)}; expected {expected}"
        )
    return samples


def _class_key(name: str) -> str:
    try:
        return canonical_name(name)
    except KeyError:
        return name.casefold()


def subject_of(path: Path) -> str | None:
    """CK+-style ``S005_001_00000011.png`` -> ``"S005"``; ``None`` for other names."""
    stem = path.stem
    if len(stem) > 1 and stem[0] in "Ss" and stem[1:4].isdigit():
        return "S" + stem[1:].split("_")[0]
    return None
