"""Figures as files, for every part of gclenet that draws (training curves, Grad-CAM, video plots).

matplotlib is imported when a figure is first asked for, not with this module, so
importing code that can draw stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gclenet.fileio import atomic_write_bytes

__all__ = ["pyplot", "save_figure"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (never needs a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically (a killed run leaves no half-written file) and close it."""
    path = Path(path)
    atomic_write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=120, bbox_inches="tight"))
    pyplot().close(fig)
    return path
