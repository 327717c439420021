"""Writing files so that a crash or kill never leaves a half-written one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "remove_stale_temporaries"]


def atomic_write_bytes(path: str | Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary sibling, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temporaries(path: str | Path) -> None:
    """Delete the temporary siblings of ``path`` that killed writers left behind.

    (It lists the folder: call it where such leftovers are large, e.g. checkpoints, not
    after every small output file.)
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
