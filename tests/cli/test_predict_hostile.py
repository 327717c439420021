"""Hostile inputs through `gclenet predict`: nothing crashes, hangs or hides a file."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from gclenet.cli.main import main


def write_face(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def test_symlink_loops_are_not_followed(random_weights, tmp_path, capsys):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    write_face(root / "a" / "one.png")
    os.symlink(root, root / "a" / "loop")  # photos/a/loop -> photos
    assert main(["predict", str(root), "--weights", str(random_weights), "--detector", "none", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in records] == [str(root / "a" / "one.png")]


def test_non_utf8_names_in_text_and_json_output(random_weights, tmp_path, capsys):
    path = write_face(tmp_path / b"visage_\xe9.png".decode("utf-8", "surrogateescape"))
    assert main(["predict", str(path), "--weights", str(random_weights), "--detector", "none"]) == 0
    assert "visage_" in capsys.readouterr().out
    assert main(["predict", str(path), "--weights", str(random_weights), "--detector", "none", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    table = tmp_path / "faces.csv"
    assert main(["predict", str(path), "--weights", str(random_weights), "--detector", "none", "--csv", str(table)]) == 0
    assert b"visage_\xe9.png" in table.read_bytes()  # the name's own bytes, as in the folder


def test_video_with_a_broken_frame(random_weights, tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), 25 * i, dtype=np.uint8))
    writer.release()
    data = bytearray(video.read_bytes())
    start = data.find(b"\xff\xd8", len(data) // 2)  # a JPEG frame in the middle
    data[start : start + 200] = b"\x00" * 200
    video.write_bytes(bytes(data))
    code = main(["predict", str(video), "--weights", str(random_weights), "--detector", "none", "--json"])
    assert code == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert 8 <= record["frames_analysed"] <= 10
