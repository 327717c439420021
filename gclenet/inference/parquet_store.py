"""A folder of results that survives a kill: sharded Parquet parts and a manifest.

``OUT/part-<hash>.parquet`` holds the results of one batch of inputs, one row per face plus
one row per input with no face or an error (nothing is dropped), with the fields of
``predict --json``. Each part is written whole to a temporary name and renamed into place,
so a part that exists is finished; a rerun lists the inputs of the parts there and skips
them. ``OUT/_manifest.json`` records the settings the results were made with (a rerun with
other weights would mix two models' answers: it is refused) and each run's summary.

``pandas.read_parquet(OUT)`` reads every part (pyarrow ignores names starting with ``_``
or ``.``: the manifest and temporaries); :func:`read_records` rebuilds ``predict --json``'s
records.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gclenet.fileio import atomic_write_bytes

__all__ = ["MANIFEST", "SettingsMismatch", "begin_run", "finish_run", "finished_files", "part_name",
           "records_schema", "records_table", "write_part", "read_records"]

MANIFEST = "_manifest.json"
FORMAT = 1  # of the folder's layout, recorded in the manifest


class SettingsMismatch(ValueError):
    """The folder holds results made with other settings than this run's."""


def records_schema(classes: Sequence[str]) -> pa.Schema:
    """One row per face (``face`` its index, largest first); an input with no face or an error
    is one row whose face fields are null (``error`` says why, when it is an error)."""
    point = pa.list_(pa.float64())
    return pa.schema([
        ("file", pa.string()), ("face", pa.int32()), ("box", point), ("score", pa.float64()),
        ("label", pa.string()), ("probs", pa.struct([(c, pa.float64()) for c in classes])),
        ("landmarks", pa.list_(point)), ("error", pa.string()),
    ])


def records_table(records: Iterable[dict[str, Any]], classes: Sequence[str]) -> pa.Table:
    """``predict --json`` records (``{"file", "faces"}`` or ``{"file", "error"}``) as rows."""
    rows: list[dict[str, Any]] = []
    empty = dict.fromkeys(("face", "box", "score", "label", "probs", "landmarks"))
    for record in records:
        faces = record.get("faces") or []
        rows += [{"file": record["file"], "face": i, **face, "error": None} for i, face in enumerate(faces)]
        if not faces:
            rows.append({"file": record["file"], **empty, "error": record.get("error")})
    return pa.Table.from_pylist(rows, schema=records_schema(classes))


def part_name(files: Sequence[str]) -> str:
    """A batch's part file: named by its inputs, so a batch done again replaces its own part."""
    digest = hashlib.sha1("\0".join(sorted(files)).encode("utf-8", "surrogateescape")).hexdigest()
    return f"part-{digest[:20]}.parquet"


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=2).encode()
    atomic_write_bytes(folder / MANIFEST, lambda handle: handle.write(data))


def begin_run(folder: str | Path, settings: dict[str, Any], inputs: int, skipped: int) -> str:
    """Record a new run in the folder's manifest (made if missing) and return its id.

    Raises:
        SettingsMismatch: the folder holds results made with other ``settings``.
    """
    folder = Path(folder)
    manifest = _read_manifest(folder) or {"format": FORMAT, "settings": settings, "runs": []}
    if manifest["settings"] != settings:
        changed = sorted(k for k in {**settings, **manifest["settings"]}
                         if settings.get(k) != manifest["settings"].get(k))
        raise SettingsMismatch(f"{folder} holds results made with other settings ({', '.join(changed)} differ): "
                               "name another output folder, or remove this one to start again")
    run_id = uuid.uuid4().hex
    manifest["current_run"] = run_id
    manifest["runs"].append({"run_id": run_id, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                             "inputs": inputs, "skipped": skipped})
    _write_manifest(folder, manifest)
    return run_id


def finish_run(folder: str | Path, run_id: str, summary: dict[str, Any]) -> None:
    """Add ``summary`` to the run's entry in the manifest."""
    folder = Path(folder)
    manifest = _read_manifest(folder)
    for run in manifest["runs"]:
        if run["run_id"] == run_id:
            run.update(summary, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    _write_manifest(folder, manifest)


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def finished_files(folder: str | Path) -> set[str]:
    """The inputs whose results are in the folder (none if the folder is new)."""
    folder = Path(folder)
    return {file for part in _parts(folder) for file in pq.read_table(part, columns=["file"])["file"].to_pylist()}


def write_part(folder: str | Path, files: Sequence[str], table: pa.Table, run_id: str) -> bool:
    """Write the results of the batch ``files`` as its part, unless a later run has begun.

    A worker of a killed run can outlive its driver for a moment; the part it finishes then
    would hold inputs that the new run is doing again. The manifest names the run in charge:
    a part of another run is dropped (False), so every input is in the folder once.
    """
    folder = Path(folder)
    if (_read_manifest(folder) or {}).get("current_run") != run_id:
        return False
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write_bytes(folder / part_name(files), lambda handle: handle.write(buffer.getvalue()))
    return True


def read_records(folder: str | Path) -> list[dict[str, Any]]:
    """The folder's results as ``predict --json`` records, sorted by file."""
    faces_of: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    errors: dict[str, str] = {}
    for part in _parts(Path(folder)):
        for row in pq.read_table(part).to_pylist():
            faces = faces_of.setdefault(row["file"], [])
            if row["error"] is not None:
                errors[row["file"]] = row["error"]
            elif row["face"] is not None:
                faces.append((row["face"], {k: row[k] for k in ("box", "score", "label", "probs", "landmarks")}))
    return [{"file": file, "error": errors[file]} if file in errors
            else {"file": file, "faces": [face for _, face in sorted(faces, key=lambda pair: pair[0])]}
            for file, faces in sorted(faces_of.items())]
