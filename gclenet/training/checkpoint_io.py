"""Checkpoint I/O that never leaves a half-written file and never unpickles code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from gclenet.fileio import atomic_write_bytes, remove_stale_temporaries
from gclenet.models.weights import read_checkpoint

__all__ = ["AtomicCheckpointIO"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file and ``os.replace`` it: a kill mid-write keeps the old file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        atomic_write_bytes(path, lambda handle: torch.save(checkpoint, handle))
        remove_stale_temporaries(path)  # a checkpoint-sized file from a run killed mid-write

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return read_checkpoint(path)  # weights only, and one clear error for an unreadable file
