"""Videos with faces followed between detector runs: ids, exact detector frames, smoothing."""

import csv

import numpy as np
import pytest
from PIL import Image

from gclenet.inference.recognizer import Recognizer
from gclenet.inference.stream import FaceStream

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")


def crossing_frames(count=36):
    """400x200 frames: the astronaut's face and a mirrored, tinted copy crossing paths (the
    astronaut in front), and where each is: ``(frame, x_front, x_back)``, 90 px wide faces."""
    from skimage import data

    front = np.asarray(Image.fromarray(data.astronaut()[20:230, 140:320]).resize((90, 105)))
    back = (front[:, ::-1] * np.array([0.8, 0.9, 1.1])).clip(0, 255).astype(np.uint8)
    background = (np.random.default_rng(0).integers(60, 200, (200, 400, 3)) // 40 * 40).astype(np.uint8)
    for i in range(count):
        frame = background.copy()
        xf, xb = int(10 + 8.5 * i), int(300 - 8.5 * i)
        frame[50:155, xb : xb + 90] = back
        frame[40:145, xf : xf + 90] = front
        yield frame, xf, xb


@pytest.fixture(scope="module")
def crossing_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "crossing.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (400, 200))
    places = []
    for frame, xf, xb in crossing_frames():
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        places.append((xf, xb))
    writer.release()
    return path, places


@pytest.fixture(scope="module")
def analysed(crossing_video, random_weights, tmp_path_factory):
    from gclenet.inference.video import analyse_video

    recognizer = Recognizer(random_weights, precision="fp32")  # MTCNN on ONNX Runtime
    out = tmp_path_factory.mktemp("out")
    record = analyse_video(recognizer, crossing_video[0], out=out, detect_every=3, window=3, progress=False).to_dict()
    rows = list(csv.DictReader(open(out / "crossing.frames.csv")))
    return recognizer, record, rows, out


def test_two_crossing_faces_keep_their_ids(crossing_video, analysed):
    _, record, rows, out = analysed
    places = crossing_video[1]
    ids_front, ids_back = [], []
    for row in rows:
        xf, xb = places[int(row["frame"])]
        if not row["face_id"] or abs(xf - xb) < 90:
            continue  # no face, or the pasted faces overlap: no telling which box is which
        centre = (float(row["x1"]) + float(row["x2"])) / 2
        (ids_front if xf <= centre <= xf + 90 else ids_back if xb <= centre <= xb + 90 else []).append(row["face_id"])
    assert len(set(ids_front)) == 1 and len(set(ids_back)) == 1 and set(ids_front) != set(ids_back)
    assert len(ids_front) >= 20 and len(ids_back) >= 15  # followed before and after crossing
    assert record["frames"] == record["frames_analysed"] == 36 and record["detect_every"] == 3
    assert {str(face["id"]) for face in record["faces"]} >= set(ids_front) | set(ids_back)
    assert all(abs(sum(face["mean_probs"].values()) - 1) < 1e-4 for face in record["faces"])
    assert record["frames_with_face"] == round(36 * (1 - record["summary"].get("no face", 0.0))) > 0
    annotated = cv2.VideoCapture(str(out / "crossing.annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 36  # every frame drawn
    summary = (out / "crossing.summary.txt").read_text()
    assert "36 frames analysed" in summary and summary.count("face #") == len(record["faces"])


def test_detector_frames_are_what_predict_gives(crossing_video, analysed):
    """Where the detector ran, the CSV holds exactly predict's boxes and probabilities."""
    recognizer, _, rows, _ = analysed
    capture = cv2.VideoCapture(str(crossing_video[0]))
    frames = []
    while (read := capture.read())[0]:
        frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    detected = [row for row in rows if row["detected"] == "1"]
    assert {int(row["frame"]) for row in detected} == set(range(0, 36, 3))
    assert {int(row["frame"]) for row in rows if row["detected"] == "0"}  # tracked frames in between
    for row in detected:
        faces = recognizer.predict(frames[int(row["frame"])])
        box = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
        (match,) = [face for face in faces if face.box == box]
        assert row["label"] == match.label
        assert all(row[c] == f"{match.probs[c]:.5f}" for c in recognizer.classes)
    per_frame = {}
    for row in detected:
        per_frame[row["frame"]] = per_frame.get(row["frame"], 0) + 1
    assert all(len(recognizer.predict(frames[int(f)])) == n for f, n in per_frame.items())


def test_smoothing_averages_each_face_over_the_window(random_weights):
    recognizer = Recognizer(random_weights, detector="none", precision="fp32")
    rng = np.random.default_rng(0)
    frames = [(i, rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)) for i in range(6)]
    raw = FaceStream(recognizer, detect_every=2, window=1)
    smooth = FaceStream(recognizer, detect_every=2, window=3)
    got_raw = [faces[0] for faces in raw.process(frames)]
    got = [faces[0] for faces in smooth.process(frames)]
    assert [f.detected for f in got] == [True, False] * 3 and len({f.id for f in got}) == 1
    assert all(f.smoothed == pytest.approx(f.probs) for f in got_raw)
    for i in range(6):
        window = [np.array(list(g.probs.values())) for g in got_raw[max(0, i - 2) : i + 1]]
        assert list(got[i].smoothed.values()) == pytest.approx(list(np.mean(window, axis=0)), abs=1e-6)
    assert got[5].shown().probs == got[5].smoothed and got[5].shown().id == got[5].id
    with pytest.raises(ValueError, match="at least 1"):
        FaceStream(recognizer, detect_every=0)


def test_command_line_tracking_options(random_weights, tmp_path, capsys):
    import json

    from gclenet.cli import predict
    from gclenet.cli.main import main
    from gclenet.inference import stream

    assert (predict.DEFAULT_DETECT_EVERY, predict.DEFAULT_WINDOW) == (stream.DEFAULT_DETECT_EVERY,
                                                                      stream.DEFAULT_WINDOW)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(6):
        writer.write(np.full((48, 64, 3), i * 30, dtype=np.uint8))
    writer.release()
    assert main(["predict", str(video), "--weights", str(random_weights), "--detector", "none", "--json",
                 "--detect-every", "2", "--smooth", "1", "--smoothing", "ema"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["detect_every"], record["window"]) == (2, 1) and len(record["faces"]) == 1
    assert main(["predict", str(video), "--weights", str(random_weights), "--detect-every", "0"]) == 2
