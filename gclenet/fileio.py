"""Writing files so that a crash or kill never leaves a half-written one."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "named_os_error", "remove_stale_temporaries"]


def atomic_write_bytes(path: str | Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary sibling, fsync, then rename over ``path``.

    Raises:
        OSError: the file could not be written (a full disk, no permission): named by ``path``,
            not by the temporary file, which is removed; a previous ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    raw = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with io.BufferedWriter(raw := _RecordingFile(tmp)) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise named_os_error(err, path) from err
    except Exception as err:
        if raw is not None and raw.failure is not None:  # the writer hid the disk's error behind its own
            raise named_os_error(raw.failure, path) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


class _RecordingFile(io.FileIO):
    """A file that remembers the OS error of a failed write: ``torch.save``'s zip writer turns
    ENOSPC into ``RuntimeError: ... unexpected pos 64 vs 0``, which names neither file nor cause."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "w")
        self.failure: OSError | None = None

    def write(self, data: Any) -> int | None:
        try:
            return super().write(data)
        except OSError as err:
            self.failure = err
            raise


def named_os_error(err: OSError, path: str | Path) -> OSError:
    """``err`` naming ``path``, the file a user asked for, in its one line ("[Errno 28] No space
    left on device: 'out/photo.jpg'"); errors that name a file of their own already are kept."""
    if err.errno is None or (err.filename is not None and not Path(str(err.filename)).name.startswith(".")):
        return err
    return OSError(err.errno, err.strerror or os.strerror(err.errno), str(path))


def remove_stale_temporaries(path: str | Path) -> None:
    """Delete the temporary siblings of ``path`` that killed writers left behind.

    (It lists the folder: call it where such leftovers are large, e.g. checkpoints, not
    after every small output file.)
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
