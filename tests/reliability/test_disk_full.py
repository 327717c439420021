"""A full disk at each place gclenet writes: the previous file is intact, no partial file stays,
one line names the path, and the run stops with a non-zero exit.

The disk is simulated: the writers' ``open`` gives files that take ``room`` bytes and then fail
with ``ENOSPC``, after writing what fitted, as a real full disk does. One test fills a real
(tiny, user-namespace tmpfs) file system, where the OS allows one.
"""

import errno
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gclenet.fileio
import gclenet.inference.video
from gclenet.cli.main import main
from tests.cli.test_predict import write_faces, write_video

FULL = "[Errno 28] No space left on device"


class FullDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left."""

    room = 0

    def write(self, data):
        data = memoryview(data).cast("B")
        if len(data) <= self.room:
            self.room -= len(data)
            return super().write(data)
        super().write(data[: self.room])
        self.room = 0
        raise OSError(errno.ENOSPC, "No space left on device")


def fill_disk(monkeypatch, module, room=0, only=""):
    """Files ``module`` writes (those whose name contains ``only``) are on a disk with ``room`` bytes left."""
    if module is gclenet.fileio:  # it writes through its own file class (which keeps the OS error)
        recording = gclenet.fileio._RecordingFile
        full = type("FullRecordingFile", (recording, FullDisk), {})

        def open_file(path):
            file = full(path) if only in str(path) else recording(path)
            file.room = room
            return file

        monkeypatch.setattr(module, "_RecordingFile", open_file)
        return
    real_open = open

    def full_open(file, mode="r", *args, newline=None, **kwargs):
        if "w" in mode and only in str(file):
            raw = FullDisk(file, "w")
            raw.room = room
            buffered = io.BufferedWriter(raw)
            return buffered if "b" in mode else io.TextIOWrapper(buffered, newline=newline)
        return real_open(file, mode, *args, newline=newline, **kwargs)

    monkeypatch.setattr(module, "open", full_open, raising=False)


def one_error_line(err: str, command: str) -> str:
    (line,) = [line for line in err.splitlines() if line.startswith(f"gclenet {command}: error:")]
    return line


def no_partial_files(folder: Path) -> None:
    assert not [p for p in folder.rglob(".*") if p.is_file()], list(folder.rglob(".*"))


def test_atomic_write_names_the_file_and_keeps_the_previous_one(tmp_path, monkeypatch):
    target = tmp_path / "out" / "result.json"
    target.parent.mkdir()
    target.write_bytes(b"previous")
    fill_disk(monkeypatch, gclenet.fileio, room=3)
    with pytest.raises(OSError) as raised:
        gclenet.fileio.atomic_write_bytes(target, lambda handle: handle.write(b"x" * 100_000))
    assert str(raised.value) == f"{FULL}: '{target}'"  # the file asked for, not the temporary one
    assert target.read_bytes() == b"previous"
    no_partial_files(tmp_path)


@pytest.mark.parametrize("fmt, name", [("safetensors", "w.safetensors"), ("torchscript", "m.pt"), ("onnx", "m.onnx")])
def test_export_on_a_full_disk(random_weights, tmp_path, monkeypatch, capsys, fmt, name):
    out = tmp_path / name
    out.write_bytes(b"previous export")
    fill_disk(monkeypatch, gclenet.fileio, room=1000)
    assert main(["export", "--weights", str(random_weights), "--format", fmt, "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err, "export") == f"gclenet export: error: {FULL}: '{out}'"
    assert out.read_bytes() == b"previous export"
    no_partial_files(tmp_path)


@pytest.mark.parametrize("full", ["m.int8", "fp32.onnx"])  # the output's disk; the temporary folder's
def test_int8_export_on_a_full_disk(random_weights, tmp_path, monkeypatch, capsys, full):
    pytest.importorskip("onnxruntime")
    write_faces(tmp_path / "calibration", 4)
    out = tmp_path / "m.int8.onnx"
    out.write_bytes(b"previous export")
    fill_disk(monkeypatch, gclenet.fileio, room=1000, only=full)
    assert main(["export", "--weights", str(random_weights), "--format", "onnx", "--int8", "--calibration",
                 str(tmp_path / "calibration"), "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err, "export")
    if full == "m.int8":
        assert line == f"gclenet export: error: {FULL}: '{out}'"
    else:  # the intermediate fp32 model, in the system's temporary folder: the line names that one
        failed = Path(line.split(": '")[-1].rstrip("'"))
        assert line.startswith(f"gclenet export: error: {FULL}: ") and failed.name == "fp32.onnx"
        assert not failed.parent.exists()  # the temporary folder is removed
    assert out.read_bytes() == b"previous export"
    no_partial_files(tmp_path)


def test_predict_out_on_a_full_disk(random_weights, tmp_path, monkeypatch, capsys):
    write_faces(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "in"), "--weights", str(random_weights), "--detector", "none",
                 "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fill_disk(monkeypatch, gclenet.fileio, room=100)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "in"), "--weights", str(random_weights), "--detector", "none",
                 "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err, "predict")
    assert line == f"gclenet predict: error: {FULL}: '{out / 'face_0.png'}'"  # the first write: the run stops
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    no_partial_files(tmp_path)


def test_predict_csv_on_a_full_disk(random_weights, tmp_path, monkeypatch, capsys):
    write_faces(tmp_path / "in", 2)
    table = tmp_path / "faces.csv"
    table.write_text("the previous table\n")
    fill_disk(monkeypatch, gclenet.fileio, room=10)
    assert main(["predict", str(tmp_path / "in"), "--weights", str(random_weights), "--detector", "none",
                 "--csv", str(table)]) == 2
    assert one_error_line(capsys.readouterr().err, "predict") == f"gclenet predict: error: {FULL}: '{table}'"
    assert table.read_text() == "the previous table\n"
    no_partial_files(tmp_path)


def test_video_outputs_on_a_full_disk(random_weights, tmp_path, monkeypatch, capsys):
    first, second = write_video(tmp_path / "a.mp4", 40), write_video(tmp_path / "b.mp4", 4)
    out = tmp_path / "out"
    assert main(["predict", str(first), "--weights", str(random_weights), "--detector", "none",
                 "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fill_disk(monkeypatch, gclenet.inference.video, room=500, only="frames.csv")  # the per-frame table, mid-video
    capsys.readouterr()
    assert main(["predict", str(first), str(second), "--weights", str(random_weights), "--detector", "none",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert one_error_line(err, "predict") == f"gclenet predict: error: {FULL}: '{out / 'a.frames.csv'}'"
    assert "b.mp4" not in err  # the run stopped: the next video was not started
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    no_partial_files(tmp_path)


def test_a_video_writer_that_fails_without_a_word(random_weights, tmp_path, monkeypatch, capsys):
    """OpenCV's VideoWriter only logs a warning when the disk fills and leaves a file without an index."""
    import cv2

    class SilentlyFailingWriter:
        def __init__(self, path, *args):
            Path(path).write_bytes(b"\x00\x00\x00\x18ftypmp42")  # the start of an MP4, and nothing more

        def write(self, frame):
            pass

        def release(self):
            pass

    video = write_video(tmp_path / "a.mp4", 6)
    monkeypatch.setattr(cv2, "VideoWriter", SilentlyFailingWriter)
    out = tmp_path / "out"
    assert main(["predict", str(video), "--weights", str(random_weights), "--detector", "none",
                 "--out", str(out)]) == 1  # nothing could be done
    err = capsys.readouterr().err
    assert f"{out / 'a.annotated.mp4'}" in err and "OpenCV could not write the annotated video" in err
    assert not (out / "a.annotated.mp4").exists() and not (out / "a.frames.csv").exists()
    no_partial_files(tmp_path)


@pytest.mark.slow
def test_checkpoint_save_on_a_full_disk(tmp_path, monkeypatch, capsys):
    from tests.training.test_train_cli import make_run

    config = make_run(tmp_path, max_epochs=1)
    assert main(["train", "--config", str(config)]) == 0
    checkpoints = tmp_path / "runs" / "tiny" / "checkpoints"
    before = {p.name: p.read_bytes() for p in checkpoints.iterdir()}
    fill_disk(monkeypatch, gclenet.fileio, room=10_000, only=".ckpt")
    capsys.readouterr()
    assert main(["train", "--config", str(config), "--resume", "trainer.max_epochs=2"]) == 2
    line = one_error_line(capsys.readouterr().err, "train")
    assert line.startswith(f"gclenet train: error: {FULL}: '{checkpoints}/") and line.endswith(".ckpt'"), line
    assert {p.name: p.read_bytes() for p in checkpoints.iterdir()} == before
    torch.load(checkpoints / "last.ckpt", weights_only=True)  # still the first epoch's, whole
    no_partial_files(tmp_path / "runs")


UNSHARE = shutil.which("unshare")


def _tmpfs_works() -> bool:
    if not UNSHARE or sys.platform != "linux":
        return False
    probe = subprocess.run([UNSHARE, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /tmp"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _tmpfs_works(), reason="needs unprivileged user namespaces (unshare -rm) to mount a tmpfs")
def test_a_real_full_file_system(random_weights, tmp_path):
    """`predict --out` of a video onto a 16 KB tmpfs: the real OS errors, and OpenCV's silence."""
    cv2 = pytest.importorskip("cv2")
    video = write_video(tmp_path / "clip.mp4", 30, size=(320, 240))
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    command = (f"mount -t tmpfs -o size=16k none {disk} && {sys.executable} -m gclenet predict {video} "
               f"--weights {random_weights} --detector none --out {disk}/out; code=$?; "
               f"cp -r {disk}/out {kept}; exit $code")  # what was left on the full disk, for a look
    run = subprocess.run([UNSHARE, "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-2000:]
    line = one_error_line(run.stderr, "predict")
    assert "No space left on device" in line and str(disk / "out" / "clip.") in line, line
    assert not [p for p in kept.rglob(".*")], list(kept.rglob("*"))  # no partial files
    if (kept / "clip.annotated.mp4").exists():  # one that is there is whole
        assert cv2.VideoCapture(str(kept / "clip.annotated.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 30
