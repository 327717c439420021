"""Where outputs of many inputs go under ``--out``: the input tree, mirrored.

Each input keeps its path relative to the deepest folder that holds all the inputs (a
folder named on the command line counts as holding its files), so ``a/face.jpg`` and
``b/face.jpg`` become ``OUT/a/face.jpg`` and ``OUT/b/face.jpg``, and ``photos/`` becomes
``OUT/<the tree under photos>``: no name is made up, no two inputs share an output.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["mirrored_paths", "annotated_image_path", "output_prefixes", "WRITABLE_IMAGE_FORMATS"]

# Suffix -> Pillow format of the annotated copy: the input's own format where Pillow writes
# it well; other images (GIF, PGM...) get ".jpg" appended, so the name still tells the input.
WRITABLE_IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP",
                          ".tif": "TIFF", ".tiff": "TIFF"}


def mirrored_paths(inputs: Sequence[str | Path], files: Sequence[Path]) -> dict[Path, Path]:
    """Each of ``files`` -> its path relative to the deepest folder holding all of them.

    Args:
        inputs: what was named on the command line (folders among them hold their files).
        files: the files found from ``inputs``.
    """
    folders = [Path(os.path.abspath(i)) for i in inputs if Path(i).is_dir()]
    absolute = {f: Path(os.path.abspath(f)) for f in files}  # abspath, not resolve: the names the user sees

    def root(path: Path) -> Path:
        return next((folder for folder in folders if path.is_relative_to(folder)), path.parent)

    roots = [root(path) for path in absolute.values()]
    try:
        base = Path(os.path.commonpath(roots)) if roots else None
    except ValueError:  # Windows paths on different drives share no folder
        base = None
    return {f: path.relative_to(base) if base is not None else Path(*path.parts[1:]) for f, path in absolute.items()}


def annotated_image_path(relative: Path) -> tuple[Path, str]:
    """``(path, Pillow format)`` of the annotated copy of an image at ``relative``."""
    image_format = WRITABLE_IMAGE_FORMATS.get(relative.suffix.lower())
    if image_format is None:
        return relative.with_name(relative.name + ".jpg"), "JPEG"
    return relative, image_format


def output_prefixes(relative: Sequence[Path]) -> dict[Path, Path]:
    """Each input's output prefix (``<folder>/<stem>``, to which a video's ``.annotated.mp4``,
    ``.frames.csv``... or an image's ``.cam.png`` are added): the file name without its
    suffix, or with it where two of the inputs in one folder share a stem (``clip.mp4`` and
    ``clip.avi``)."""
    shared = Counter(path.with_suffix("") for path in set(relative))
    return {path: path if shared[path.with_suffix("")] > 1 else path.with_suffix("") for path in relative}
