"""The results folder of Ray runs: parts that round-trip predict --json's records, a manifest
that refuses other settings, and a killed run's late part that cannot duplicate an input."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

from gclenet.inference import parquet_store  # noqa: E402  (after the skip: needs pyarrow)

CLASSES = ["happy", "sad"]
SETTINGS = {"weights": "/w.safetensors", "detector": "none", "tta": False}


def face(label: str, x: float) -> dict:
    return {"box": [x, 0.0, x + 40.0, 40.0], "score": 0.99, "label": label,
            "probs": {"happy": 0.7 if label == "happy" else 0.3, "sad": 0.3 if label == "happy" else 0.7},
            "landmarks": [[1.0, 2.0], [3.0, 4.0]]}


RECORDS = [
    {"file": "/in/a.jpg", "faces": [face("happy", 0.0), face("sad", 50.0)]},
    {"file": "/in/b.jpg", "faces": []},
    {"file": "/in/c.jpg", "error": "not an image file PIL can read; check the file or remove it"},
    {"file": "/in/d.jpg", "faces": [{**face("sad", 1.0), "landmarks": None}]},
]


def write(folder, records, run_id):
    files = [r["file"] for r in records]
    return parquet_store.write_part(folder, files, parquet_store.records_table(records, CLASSES), run_id)


def test_records_round_trip_and_every_input_is_a_row(tmp_path):
    run = parquet_store.begin_run(tmp_path, SETTINGS, inputs=4, skipped=0)
    assert write(tmp_path, RECORDS[:2], run) and write(tmp_path, RECORDS[2:], run)
    assert parquet_store.read_records(tmp_path) == sorted(RECORDS, key=lambda r: r["file"])
    assert parquet_store.finished_files(tmp_path) == {r["file"] for r in RECORDS}
    table = pd.read_parquet(tmp_path)  # one line, the manifest not in the way
    assert len(table) == 2 + 1 + 1 + 1  # a row per face, one per input without a face or with an error
    assert table.loc[table.file == "/in/c.jpg", "error"].item().startswith("not an image")
    assert table.loc[table.file == "/in/a.jpg", "label"].tolist() == ["happy", "sad"]
    assert table.loc[table.file == "/in/b.jpg", "face"].isna().all()


def test_a_batch_done_again_replaces_its_own_part(tmp_path):
    run = parquet_store.begin_run(tmp_path, SETTINGS, inputs=2, skipped=0)
    write(tmp_path, RECORDS[:2], run)
    write(tmp_path, list(reversed(RECORDS[:2])), run)  # same inputs: same part name
    assert len(list(tmp_path.glob("part-*.parquet"))) == 1
    assert len(pd.read_parquet(tmp_path)) == 3


def test_a_part_of_a_run_that_is_no_longer_in_charge_is_dropped(tmp_path):
    first = parquet_store.begin_run(tmp_path, SETTINGS, inputs=4, skipped=0)
    second = parquet_store.begin_run(tmp_path, SETTINGS, inputs=4, skipped=0)  # the rerun after a kill
    assert not write(tmp_path, RECORDS[:1], first)  # a worker of the killed run, finishing late
    assert write(tmp_path, RECORDS[:1], second)
    assert parquet_store.finished_files(tmp_path) == {"/in/a.jpg"}


def test_other_settings_are_refused_naming_what_differs(tmp_path):
    parquet_store.begin_run(tmp_path, SETTINGS, inputs=1, skipped=0)
    with pytest.raises(parquet_store.SettingsMismatch, match=r"\(tta, weights differ\)"):
        parquet_store.begin_run(tmp_path, {**SETTINGS, "weights": "/other.safetensors", "tta": True}, 1, 0)


def test_the_manifest_keeps_each_runs_summary(tmp_path):
    run = parquet_store.begin_run(tmp_path, SETTINGS, inputs=4, skipped=1)
    parquet_store.finish_run(tmp_path, run, {"processed": 3})
    import json

    (entry,) = json.loads((tmp_path / parquet_store.MANIFEST).read_text())["runs"]
    assert entry["skipped"] == 1 and entry["processed"] == 3 and entry["finished"]
