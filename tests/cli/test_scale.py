"""``gclenet predict --runner ray``: options that do not fit are refused in one line, and a run
whose driver is killed part-way is finished by the same command, each input exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gclenet.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("extra", "message"), [
    ([], "--runner ray needs --parquet DIR"),
    (["--parquet", "res", "--json"], "--json work with --runner local"),
    (["--parquet", "res", "--out", "pictures", "--csv", "f.csv"], "--csv, --out work with --runner local"),
])
def test_options_that_do_not_fit_the_ray_runner_are_refused(extra, message, tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--runner", "ray", *extra]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line
    assert not (tmp_path / "res").exists()  # refused before anything is written


def test_ray_options_need_the_ray_runner(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--workers", "2", "--parquet", "res"]) == 2
    assert "--parquet, --workers: only with --runner ray" in capsys.readouterr().err


def write_photos(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            folder / f"face_{i:04d}.png")


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def files_per_part(folder: Path) -> list[list[str]]:
    import pyarrow.parquet as pq

    return [pq.read_table(p, columns=["file"])["file"].to_pylist() for p in parts(folder)]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_run_is_finished_by_the_same_command_each_input_once(random_weights, tmp_path):
    pytest.importorskip("ray")
    pq = pytest.importorskip("pyarrow.parquet")
    write_photos(tmp_path / "in", 400)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gclenet", "predict", str(tmp_path / "in"), "--weights", str(random_weights),
               "--detector", "none", "--backend", "torch", "--runner", "ray", "--workers", "2", "--batch-size", "2",
               "--part-size", "4", "--parquet", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # Its own session: what Ray started for the killed driver can be cleaned up afterwards.
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(parts(out)) < 5 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before it could be killed"
        first.send_signal(signal.SIGKILL)  # the driver, part-way
        first.wait()
        time.sleep(2)  # a worker may finish the batch in hand: its part is whole or absent
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)  # Ray's processes left behind by the killed driver
        except ProcessLookupError:
            pass
    done_before = sum(len(files) for files in files_per_part(out))
    assert 0 < done_before < 401

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = re.search(r"401 input\(s\): (\d+) processed, (\d+) skipped", second.stderr)
    assert summary, second.stderr[-2000:]
    assert (int(summary[1]), int(summary[2])) == (401 - done_before, done_before)

    every = [file for files in files_per_part(out) for file in files]
    table = pq.read_table(out)
    assert table.num_rows == 401  # one face per photo, one error row
    assert sorted(set(every)) == sorted(every)  # each input in one part, once
    assert {Path(f).name for f in every} == {p.name for p in (tmp_path / "in").iterdir()}
    (error,) = [e for e in table["error"].to_pylist() if e is not None]
    assert "corrupt" in error or "not an image" in error
