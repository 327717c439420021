"""gclenet's cache folder (folded deploy weights, backend timings) and the keys of files in it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["cache_dir", "file_id", "ENV_CACHE_DIR"]

ENV_CACHE_DIR = "GCLENET_CACHE_DIR"


def cache_dir() -> Path:
    """``$GCLENET_CACHE_DIR``, else ``$XDG_CACHE_HOME/gclenet``, else ``~/.cache/gclenet`` (may not exist yet)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gclenet"


def file_id(*paths: str | Path | None) -> str:
    """A short digest that changes when any of the files does: its absolute path, size,
    modification time and first MiB (enough to tell files apart without reading large
    ones whole, as a build tool tells stale outputs). ``None`` entries are skipped."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        path = Path(path).resolve()
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}:".encode("utf-8", "surrogateescape"))
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]
