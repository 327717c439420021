import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gclenet.cli.main import main


def write_faces(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"face_{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_predict_folder_json_csv_and_annotated_images(random_weights, tmp_path, capsys):
    write_faces(tmp_path / "in" / "nested", 3)
    code = main(["predict", str(tmp_path / "in"), "--weights", str(random_weights), "--detector", "none",
                 "--json", "--csv", str(tmp_path / "faces.csv"), "--out", str(tmp_path / "out")])
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["file"].split("/")[-1] for r in records] == ["face_0.png", "face_1.png", "face_2.png"]
    face = records[0]["faces"][0]
    assert face["box"] == [0.0, 0.0, 40.0, 40.0] and set(face) == {"box", "score", "label", "probs", "landmarks"}
    assert face["label"] == max(face["probs"], key=face["probs"].get)
    rows = list(csv.DictReader(open(tmp_path / "faces.csv")))
    assert len(rows) == 3 and rows[0]["label"] == face["label"] and rows[0]["error"] == ""
    # The tree under the folder named, mirrored; each picture in its own format.
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["nested/face_0.png", "nested/face_1.png", "nested/face_2.png"]
    assert Image.open(tmp_path / "out" / "nested" / "face_0.png").format == "PNG"


def test_every_input_gets_a_record_in_json_and_csv(random_weights, tmp_path, capsys):
    folder = tmp_path / "photos"
    write_faces(folder, 1)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    code = main(["predict", str(folder), "--weights", str(random_weights), "--detector", "none", "--json",
                 "--csv", str(tmp_path / "faces.csv")])
    assert code == 0
    records = {Path(r["file"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert set(records) == {"face_0.png", "corrupt.jpg", "empty.png"}
    assert len(records["face_0.png"]["faces"]) == 1 and "error" not in records["face_0.png"]
    for name in ("corrupt.jpg", "empty.png"):
        assert set(records[name]) == {"file", "error"} and records[name]["error"]
    rows = {Path(r["file"]).name: r for r in csv.DictReader(open(tmp_path / "faces.csv"))}
    assert set(rows) == set(records)
    assert rows["empty.png"]["error"] == records["empty.png"]["error"] and rows["empty.png"]["label"] == ""
    assert rows["face_0.png"]["face"] == "0" and rows["face_0.png"]["error"] == ""


def test_out_mirrors_the_input_tree_so_same_names_do_not_collide(random_weights, tmp_path):
    (first,) = write_faces(tmp_path / "shots" / "monday", 1)
    (second,) = write_faces(tmp_path / "shots" / "tuesday", 1)
    gif = tmp_path / "shots" / "monday" / "face_0.gif"  # same stem, a format kept in the name
    Image.open(first).save(gif)
    out = tmp_path / "out"
    assert main(["predict", str(first), str(second), str(gif), "--weights", str(random_weights), "--detector", "none",
                 "--out", str(out)]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["monday/face_0.gif.jpg", "monday/face_0.png", "tuesday/face_0.png"]


def test_bad_files_are_named_and_the_rest_processed(random_weights, tmp_path, capsys):
    good = write_faces(tmp_path, 1)[0]
    (tmp_path / "text.jpg").write_text("hello")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:60])
    (tmp_path / "empty.png").write_bytes(b"")
    code = main(["predict", str(good), str(tmp_path / "text.jpg"), str(truncated), str(tmp_path / "empty.png"),
                 str(tmp_path / "missing.jpg"), "--weights", str(random_weights), "--detector", "none", "--json"])
    captured = capsys.readouterr()
    records = json.loads(captured.out)
    assert code == 0 and sorted(Path(r["file"]).name for r in records if "error" in r) == [
        "cut.png", "empty.png", "missing.jpg", "text.jpg"]
    assert [Path(r["file"]).name for r in records if "faces" in r] == [good.name]
    errors = captured.err.strip().splitlines()
    for name in ("text.jpg", "cut.png", "empty.png", "missing.jpg"):
        assert sum(name in line for line in errors) == 1, (name, errors)


def test_nothing_usable_is_a_failure(random_weights, tmp_path, capsys):
    (tmp_path / "bad.jpg").write_text("x")
    assert main(["predict", str(tmp_path / "bad.jpg"), "--weights", str(random_weights), "--detector", "none"]) == 1
    assert main(["predict", str(tmp_path / "gone.jpg"), "--weights", str(random_weights), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == [{"file": str(tmp_path / "gone.jpg"), "error": "no such file or folder"}]
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--weights", str(random_weights)]) == 1
    assert "holds no images" in capsys.readouterr().err


def test_no_face_is_reported(random_weights, tmp_path, capsys):
    pytest.importorskip("facenet_pytorch")
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 160, 3), 200, dtype=np.uint8)).save(blank)
    assert main(["predict", str(blank), "--weights", str(random_weights), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [{"file": str(blank), "faces": []}]
    assert "wall.png: no face found" in captured.err


def test_video_is_streamed_with_outputs(random_weights, tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), i * 20, dtype=np.uint8))
    writer.release()
    out = tmp_path / "out"
    code = main(["predict", str(video), "--weights", str(random_weights), "--detector", "none", "--out", str(out),
                 "--every", "2", "--json"])
    assert code == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["type"] == "video" and record["frames"] == 12 and record["frames_analysed"] == 6
    assert sum(record["summary"].values()) == pytest.approx(1.0)
    rows = list(csv.DictReader(open(out / "clip.frames.csv")))
    assert [int(r["frame"]) for r in rows] == [0, 2, 4, 6, 8, 10]
    annotated = cv2.VideoCapture(str(out / "clip.annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (out / "clip.probabilities.png").read_bytes()[:4] == b"\x89PNG"


def write_video(path, frames, size=(64, 48)):
    cv2 = pytest.importorskip("cv2")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 20) % 256, dtype=np.uint8))
    writer.release()
    return path


def test_videos_beside_images_with_csv_and_same_names(random_weights, tmp_path, capsys):
    (image,) = write_faces(tmp_path / "in", 1)
    first, second = write_video(tmp_path / "a" / "clip.mp4", 4), write_video(tmp_path / "b" / "clip.mp4", 4)
    out = tmp_path / "out"
    code = main(["predict", str(image), str(first), str(second), "--weights", str(random_weights), "--detector",
                 "none", "--csv", str(tmp_path / "faces.csv"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.startswith(f"{image}: ")  # the image's line is printed though videos came too
    rows = list(csv.DictReader(open(tmp_path / "faces.csv")))
    assert [r["file"] for r in rows] == [str(image)]
    assert "frames.csv" in captured.err
    for folder in ("a", "b"):  # the second clip.mp4 does not overwrite the first one's outputs
        assert (out / folder / "clip.frames.csv").is_file() and (out / folder / "clip.summary.txt").is_file()


def test_a_large_every_does_not_hold_the_frames_between(random_weights, tmp_path, monkeypatch):
    from gclenet.inference.recognizer import Recognizer
    from gclenet.inference.video import analyse_video

    video = write_video(tmp_path / "long.mp4", 64)
    recognizer = Recognizer(random_weights, detector="none")
    batches = []
    original = recognizer.detect_counted
    monkeypatch.setattr(recognizer, "detect_counted", lambda frames: batches.append(len(frames)) or original(frames))
    record = analyse_video(recognizer, video, out=tmp_path / "out", every=30, batch_size=8, progress=False).to_dict()
    assert record["frames"] == 64 and record["frames_analysed"] == 3  # frames 0, 30, 60, each detected
    assert batches == [2, 1]  # flushed after 32 held frames, not after 8 analysed ones (240 held)


def test_unreadable_video(random_weights, tmp_path, capsys):
    fake = tmp_path / "broken.mp4"
    fake.write_bytes(b"\x00" * 100)
    assert main(["predict", str(fake), "--weights", str(random_weights), "--detector", "none"]) == 1
    assert "broken.mp4: cannot open as a video" in capsys.readouterr().err


@pytest.mark.slow  # each format exported by a fresh process; the exporters themselves: tests/inference/test_export.py
def test_export_cli_formats(random_weights, tmp_path):
    result = subprocess.run([sys.executable, "-m", "gclenet", "export", "--weights", str(random_weights),
                             "--format", "torchscript", "--out", str(tmp_path / "m.pt")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.pt").stat().st_size > 1_000_000


def test_export_metadata_is_kept_as_typed(random_weights, tmp_path):
    from gclenet.models.weights import read_weights_info

    out = tmp_path / "w.safetensors"
    assert main(["export", "--weights", str(random_weights), "--format", "safetensors", "--out", str(out),
                 "--meta", "date=2026-11-24", "--meta", "accuracy=64.39", "--meta", "recipe=a=b, c",
                 "--meta", "licence=MIT"]) == 0
    info = read_weights_info(out)
    assert (info.date, info.accuracy, info.recipe, info.extra["licence"]) == ("2026-11-24", "64.39", "a=b, c", "MIT")
    assert main(["export", "--weights", str(random_weights), "--format", "safetensors", "--out", str(out),
                 "--meta", "no-equals-sign"]) == 2


def test_demo_writes_the_photo_and_the_annotated_result(random_weights, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--weights", str(random_weights), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 1 and len(records[0]["faces"]) == 1  # MTCNN finds the astronaut's face, only it
    assert (tmp_path / "demo" / "astronaut.jpg").is_file()
    assert (tmp_path / "demo" / "annotated" / "astronaut.jpg").is_file()


def test_shipped_weights_label_the_astronaut_happy(tmp_path, capsys):
    from gclenet.inference.recognizer import default_weights_path

    try:
        default_weights_path()
    except FileNotFoundError:
        pytest.skip("no shipped weights in this checkout")
    assert main(["demo", "--out", str(tmp_path), "--json"]) == 0
    faces = json.loads(capsys.readouterr().out)[0]["faces"]
    assert [f["label"] for f in faces] == ["happy"]


def test_one_face_record_for_predict_json_the_python_api_and_the_web_api(random_weights, tmp_path, capsys):
    from dataclasses import fields

    from gclenet.inference.recognizer import FacePrediction, Recognizer
    from gclenet.inference.web import analyse_upload

    (path,) = write_faces(tmp_path, 1)
    assert main(["predict", str(path), "--weights", str(random_weights), "--detector", "none", "--json"]) == 0
    (cli,) = json.loads(capsys.readouterr().out)[0]["faces"]
    recognizer = Recognizer(random_weights, detector="none")
    (api,) = [face.to_dict() for face in recognizer.predict(path)]
    (web,) = analyse_upload(recognizer, str(path))[2]["faces"]  # the web API's JSON output
    assert set(cli) == set(api) == set(web) == {f.name for f in fields(FacePrediction)}
    assert cli == api == web


def test_small_things_records_in_argument_order_out_a_file_empty_folder_broken_mp4(random_weights, tmp_path, capfd):
    first, second = write_faces(tmp_path / "in", 2)
    code = main(["predict", str(first), str(tmp_path / "missing.jpg"), str(second), "--weights", str(random_weights),
                 "--detector", "none", "--json"])
    records = json.loads(capfd.readouterr().out)
    assert code == 0 and [Path(r["file"]).name for r in records] == ["face_0.png", "missing.jpg", "face_1.png"]

    taken = tmp_path / "taken.txt"
    taken.write_text("a file")
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(first), "--out", str(taken)])
    err = capfd.readouterr().err
    assert stop.value.code == 2 and "taken.txt is a file; name a folder" in err and "Errno" not in err

    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--weights", str(random_weights)]) == 1
    err = capfd.readouterr().err
    assert ".png" in err and ".mp4" in err  # the extensions of both that it looked for

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 2)  # an MP4 header, no moov atom
    # A process of its own, as a user runs it: OpenCV sets FFmpeg's log level when it first uses it.
    result = subprocess.run([sys.executable, "-m", "gclenet", "predict", str(broken), "--weights", str(random_weights),
                             "--detector", "none"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"gclenet predict: {broken}: cannot open as a video (not a video, or a codec OpenCV lacks); "
        "convert it to H.264 MP4 or check the file"]


def test_the_two_int8s_have_their_own_flags(random_weights, tmp_path, capsys):
    from gclenet.models.weights import read_state_dict

    assert main(["export", "--weights", str(random_weights), "--format", "safetensors", "--int8",
                 "--out", str(tmp_path / "w.safetensors")]) == 2
    assert "--int8-storage" in capsys.readouterr().err
    assert main(["export", "--weights", str(random_weights), "--format", "safetensors", "--int8-storage",
                 "--out", str(tmp_path / "w.safetensors")]) == 0
    stored = (tmp_path / "w.safetensors").stat().st_size
    assert stored < 0.6 * random_weights.stat().st_size  # int8 beside the fp32 fixture
    assert read_state_dict(tmp_path / "w.safetensors")["fc.weight"].dtype.is_floating_point  # read back as floats
    assert main(["export", "--weights", str(random_weights), "--format", "onnx", "--int8-storage",
                 "--out", str(tmp_path / "m.onnx")]) == 2
