"""Recognising on Ray Data: on a local Ray cluster of 2 CPUs (this machine's size), 2 workers
finish, every input is a row, and the results are those of plain ``predict --json``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

from gclenet.cli.main import main  # noqa: E402
from gclenet.inference.distributed import actor_cpus, recognise_on_ray  # noqa: E402
from gclenet.inference.parquet_store import read_records  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """A Ray cluster on this machine with 2 CPUs, as a 2-core laptop has."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


def write_photos(folder: Path, count: int) -> list[Path]:
    """``count`` FER-sized face crops (for --detector none), plus a corrupt file and an empty one."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"{i // 500}" / f"face_{i:05d}.png"  # nested: folders are searched recursively
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    return paths + [folder / "corrupt.jpg", folder / "empty.png"]


@pytest.mark.parametrize(("cpus", "workers", "threads"), [(2, 1, 1), (2, 2, 1), (2, 8, 1), (64, 64, 1), (16, 4, 2)])
def test_actors_never_reserve_every_cpu(cpus, workers, threads):
    each = actor_cpus(cpus, workers, threads)
    assert 0 < each <= threads
    assert each * workers < cpus  # Ray Data's own tasks always find a CPU: no deadlock


def test_actors_get_a_whole_cpu_where_there_are_spare_ones():
    assert actor_cpus(64, 8, 1) == 1.0


@pytest.mark.timeout(300)  # a deadlock (actors holding every CPU) would hang here for good
def test_two_workers_on_two_cpus_finish_and_a_rerun_skips_everything(local_ray, random_weights, tmp_path):
    files = [str(p) for p in write_photos(tmp_path / "in", 30)]
    settings = {"weights": str(random_weights), "detector": "none", "backend": "torch"}
    summary = recognise_on_ray(files, tmp_path / "out", settings, workers=2, batch_size=4,
                               part_size=8, progress=False)
    assert (summary.inputs, summary.processed, summary.skipped) == (32, 32, 0)
    assert (summary.faces, summary.errors, summary.no_face) == (30, 2, 0)
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 4  # one part per 8 inputs
    records = {Path(r["file"]).name: r for r in read_records(tmp_path / "out")}
    assert set(records["corrupt.jpg"]) == {"file", "error"} and "corrupt" in records["corrupt.jpg"]["error"]
    assert "empty file" in records["empty.png"]["error"]
    again = recognise_on_ray(files, tmp_path / "out", settings, workers=2, batch_size=4,
                             part_size=8, progress=False)
    assert (again.processed, again.skipped) == (0, 32)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ray_records_equal_plain_predict_json_for_2000_photos(local_ray, random_weights, tmp_path, capsys):
    write_photos(tmp_path / "in", 2000)
    common = [str(tmp_path / "in"), "--weights", str(random_weights), "--detector", "none", "--backend", "torch"]
    assert main(["predict", *common, "--json"]) == 0
    plain = {r["file"]: r for r in json.loads(capsys.readouterr().out)}
    assert main(["predict", *common, "--runner", "ray", "--workers", "2", "--parquet", str(tmp_path / "out")]) == 0
    assert "2002 input(s): 2002 processed, 0 skipped" in capsys.readouterr().err
    distributed = {r["file"]: r for r in read_records(tmp_path / "out")}
    assert len(plain) == 2002 and set(distributed) == {str(Path(f).absolute()) for f in plain}
    for file, expected in plain.items():
        got = distributed[str(Path(file).absolute())]
        assert got.get("error") == expected.get("error"), file
        assert len(got.get("faces", [])) == len(expected.get("faces", [])), file
        for face, want in zip(got.get("faces", []), expected.get("faces", [])):
            assert (face["box"], face["score"], face["label"], face["landmarks"]) == (
                want["box"], want["score"], want["label"], want["landmarks"]), file
            assert face["probs"] == pytest.approx(want["probs"], abs=1e-4), file


@pytest.mark.timeout(300)
def test_detected_boxes_and_landmarks_come_back_as_predict_json_gives_them(local_ray, random_weights, tmp_path,
                                                                          capsys):
    from gclenet.inference.sources import write_example_photo

    photo = write_example_photo(tmp_path / "in")  # one smiling face, found by MTCNN
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(tmp_path / "in" / "blank.png")  # no face
    common = [str(tmp_path / "in"), "--weights", str(random_weights), "--detector", "mtcnn-onnx",
              "--backend", "torch"]
    assert main(["predict", *common, "--json"]) == 0
    plain = sorted(json.loads(capsys.readouterr().out), key=lambda r: r["file"])
    assert main(["predict", *common, "--runner", "ray", "--workers", "1", "--parquet", str(tmp_path / "out")]) == 0
    distributed = read_records(tmp_path / "out")
    assert [r["file"] for r in distributed] == [str(Path(r["file"]).absolute()) for r in plain]
    (face,) = distributed[0]["faces"]  # astronaut.jpg (records sorted by file: before blank.png)
    assert distributed[1]["faces"] == [] and "error" not in distributed[1]
    want = plain[0]["faces"][0]
    assert face["landmarks"] == want["landmarks"] and len(face["landmarks"]) == 5
    assert (face["box"], face["score"], face["label"]) == (want["box"], want["score"], want["label"])
    assert face["probs"] == pytest.approx(want["probs"], abs=1e-4)
    assert photo.name in distributed[0]["file"]


class DiesOnceAfterWriting:
    """A worker that dies (the process, as killed) right after writing its first part, once per test."""

    marker: str = ""

    def __call__(self, batch):
        result = super().__call__(batch)
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        return result


@pytest.mark.timeout(300)
def test_a_worker_that_dies_after_writing_is_restarted_and_each_input_stays_once(local_ray, random_weights, tmp_path,
                                                                                 monkeypatch):
    import cloudpickle

    from gclenet.inference import distributed

    # By value: the workers need not import this test module.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    worker = type("Dying", (DiesOnceAfterWriting, distributed.RecognizerWorker), {"marker": str(tmp_path / "died")})
    monkeypatch.setattr(distributed, "RecognizerWorker", worker)
    files = [str(p) for p in write_photos(tmp_path / "in", 22)]
    settings = {"weights": str(random_weights), "detector": "none", "backend": "torch"}
    summary = recognise_on_ray(files, tmp_path / "out", settings, workers=1, part_size=8, progress=False)
    assert (tmp_path / "died").exists()  # it did die
    assert (summary.processed, summary.faces, summary.errors) == (24, 22, 2)  # the lost part redone, counted once
    every = [r["file"] for r in read_records(tmp_path / "out")]
    assert sorted(every) == sorted(files) and len(list((tmp_path / "out").glob("part-*.parquet"))) == 3
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
