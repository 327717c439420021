import numpy as np
import pytest

from gclenet.inference.detection import Face
from gclenet.inference.tracking import FaceTracker, iou_matrix


def _box(cx: float, cy: float, side: float = 80.0) -> tuple[float, float, float, float]:
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def _crossing(frames: int = 90, speed: float = 6.0):
    """Centres of two faces on a 640-px-wide frame moving towards and past each other:
    A from the left, slightly higher; B from the right."""
    a = [(60 + speed * i, 200 + 0.2 * i) for i in range(frames)]
    b = [(580 - speed * i, 215 - 0.1 * i) for i in range(frames)]
    return a, b


def _ids_along(shown, a, b):
    """Per frame, the id shown over face A and over face B (None: not shown), each shown
    box assigned to the nearer true face. ``shown``: per frame, ``(id, box)`` of the
    tracks ``update`` returned (tracks change in place, so their state is copied)."""
    ids_a, ids_b = [], []
    for tracks, ca, cb in zip(shown, a, b):
        over = {"a": None, "b": None}
        if iou_matrix(np.array([_box(*ca)]), np.array([_box(*cb)]))[0, 0] > 0.5:
            continue  # the faces are (nearly) on top of each other: no telling which box is which
        for track_id, box in tracks:
            iou = iou_matrix(np.array([box]), np.array([_box(*ca), _box(*cb)]))[0]
            if iou.max() > 0.3:
                over["ab"[int(iou.argmax())]] = track_id
        ids_a.append(over["a"])
        ids_b.append(over["b"])
    return ids_a, ids_b


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert np.allclose(iou_matrix(a, b), [[1, 1 / 3, 0], [0, 0, 0]])


@pytest.mark.parametrize("every", [1, 3, 5])
def test_crossing_faces_keep_their_ids(every):
    """The front face (A) hides B while they overlap: B is not detected then, and comes
    back on the far side with its own id; detector boxes jitter by a few pixels."""
    rng = np.random.default_rng(0)
    a, b = _crossing()
    tracker = FaceTracker(window=3)
    shown = []
    for i, (ca, cb) in enumerate(zip(a, b)):
        detections = None
        if i % every == 0:
            detections = [Face(tuple(np.add(_box(*ca), rng.normal(0, 2, 4))), 0.99)]
            hidden = iou_matrix(np.array([_box(*ca)]), np.array([_box(*cb)]))[0, 0] > 0.1
            if not hidden:
                detections.append(Face(tuple(np.add(_box(*cb), rng.normal(0, 2, 4))), 0.99))
        shown.append([(t.id, t.box) for t in tracker.update(i, detections, frame_size=(640, 480))])
    ids_a, ids_b = _ids_along(shown, a, b)
    assert len({i for i in ids_a if i is not None}) == 1, ids_a
    assert len({i for i in ids_b if i is not None}) == 1, ids_b
    assert ids_a[0] != ids_b[0]
    assert ids_a[-1] == ids_a[0] and ids_b[-1] == ids_b[0]  # both are followed to the end
    assert None not in ids_a  # the front face is on every frame, detected or predicted


def test_boxes_between_detections_follow_the_motion():
    tracker = FaceTracker()
    for i in range(0, 7, 3):
        tracker.update(i, [Face(_box(100 + 4 * i, 100), 1.0)])
    (track,) = tracker.update(8, None)
    assert not track.detected and np.allclose(track.box, _box(100 + 4 * 8, 100))
    (track,) = tracker.update(9, [Face(_box(100 + 4 * 9, 100), 1.0)])
    assert track.detected and track.hits == 4
    assert track.box == _box(136, 100) and track.face() is track.detection  # exact where the detector ran


def test_face_leaving_and_another_entering_gets_a_new_id():
    tracker = FaceTracker(max_age=2)
    first = tracker.update(0, [Face(_box(100, 100), 1.0)])[0].id
    for i in range(1, 4):  # the detector runs and finds nothing: the face has left
        assert tracker.update(i, []) == []
    # a new face where the old one was: the old track has ended, so it gets a new id
    (newcomer,) = tracker.update(4, [Face(_box(100, 100), 1.0)])
    assert newcomer.id != first


def test_face_missed_briefly_keeps_its_id():
    tracker = FaceTracker(max_age=3)
    first = tracker.update(0, [Face(_box(100, 100), 1.0)])[0].id
    tracker.update(1, [Face(_box(101, 100), 1.0)])
    assert tracker.update(2, []) == []  # missed once: kept, not shown
    assert [t.id for t in tracker.tracks] == [first]
    (again,) = tracker.update(3, [Face(_box(103, 100), 1.0)])
    assert again.id == first


def test_a_detection_never_seen_again_ends_at_once():
    tracker = FaceTracker(max_age=100)
    tracker.update(0, [Face(_box(100, 100), 1.0), Face(_box(300, 100), 1.0)])
    tracker.update(1, [Face(_box(100, 100), 1.0)])  # the second was a false detection
    assert [t.box for t in tracker.tracks] == [_box(100, 100)]


def test_fast_small_face_keeps_its_id():
    """A 40-px face moving 30 px between detector runs: its boxes overlap by IoU 0.14 (a
    new id each run with plain IoU), the buffered boxes by enough."""
    def ids(buffer):
        tracker = FaceTracker(buffer=buffer)
        return {tracker.update(3 * i, [Face(_box(100 + 30 * i, 100, side=40), 1.0)])[0].id for i in range(6)}

    assert len(ids(0.5)) == 1 and len(ids(0.0)) == 6


def test_tracks_predicted_out_of_the_frame_end():
    tracker = FaceTracker(max_age=100)
    tracker.update(0, [Face(_box(600, 100), 1.0)], frame_size=(640, 480))
    tracker.update(1, [Face(_box(620, 100), 1.0)], frame_size=(640, 480))
    tracker.update(2, [], frame_size=(640, 480))  # missed, predicted at x 640 +- 40
    assert len(tracker.tracks) == 1
    tracker.update(4, None, frame_size=(640, 480))  # predicted wholly right of the frame
    assert tracker.tracks == []


def test_mean_smoothing_uses_the_last_window_frames():
    tracker = FaceTracker(window=3)
    (track,) = tracker.update(0, [Face(_box(100, 100), 1.0)])
    series = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([0.0, 1.0])]
    out = [tracker.smooth(track.id, p) for p in series]
    assert np.allclose(out[0], [1, 0]) and np.allclose(out[1], [0.5, 0.5])
    assert np.allclose(out[2], [1 / 3, 2 / 3]) and np.allclose(out[3], [0, 1])  # the first frame left the window


def test_ema_smoothing_and_no_smoothing():
    ema = FaceTracker(window=3, smoothing="ema")  # alpha 0.5
    (track,) = ema.update(0, [Face(_box(100, 100), 1.0)])
    ema.smooth(track.id, np.array([1.0, 0.0]))
    assert np.allclose(ema.smooth(track.id, np.array([0.0, 1.0])), [0.5, 0.5])
    raw = FaceTracker(window=1)
    (track,) = raw.update(0, [Face(_box(100, 100), 1.0)])
    raw.smooth(track.id, np.array([1.0, 0.0]))
    assert np.allclose(raw.smooth(track.id, np.array([0.2, 0.8])), [0.2, 0.8])
    with pytest.raises(ValueError, match="smoothing"):
        FaceTracker(smoothing="median")
    with pytest.raises(KeyError):
        raw.smooth(99, np.array([1.0, 0.0]))


def test_summaries_per_id_include_ended_tracks():
    tracker = FaceTracker(window=2, max_age=0)
    (a,) = tracker.update(0, [Face(_box(100, 100), 1.0)])
    tracker.smooth(a.id, np.array([0.9, 0.1]))
    tracker.update(1, [Face(_box(101, 100), 1.0), Face(_box(400, 100), 1.0)])
    tracker.smooth(a.id, np.array([0.7, 0.3]))
    b = next(t for t in tracker.tracks if t.id != a.id)
    tracker.smooth(b.id, np.array([0.2, 0.8]))
    tracker.update(2, [Face(_box(400, 100), 1.0)])  # A is gone (max_age 0): its track ends
    tracker.smooth(b.id, np.array([0.4, 0.6]))
    first, second = tracker.summaries()
    assert (first.id, first.frames, first.detections, first.first_frame, first.last_frame) == (a.id, 2, 2, 0, 1)
    assert np.allclose(first.mean_probs, [0.8, 0.2]) and second.frames == 2
    record = second.to_dict(["happy", "sad"])
    assert record["label"] == "sad" and record["label_shares"] == {"sad": 1.0}
    assert record["mean_probs"] == pytest.approx({"happy": 0.3, "sad": 0.7})


def test_predicted_face_moves_its_landmarks():
    tracker = FaceTracker()
    tracker.update(0, [Face((0, 0, 10, 10), 1.0, [(3, 4), (7, 4)])])
    tracker.update(1, [Face((2, 0, 12, 10), 1.0, [(5, 4), (9, 4)])])
    (track,) = tracker.update(2, None)
    face = track.face()
    assert face.box == pytest.approx((4, 0, 14, 10))
    assert np.allclose(face.landmarks, [(7, 4), (11, 4)])


def test_frames_must_not_go_back():
    tracker = FaceTracker()
    tracker.update(5, [Face(_box(100, 100), 1.0)])
    with pytest.raises(ValueError, match="go back"):
        tracker.update(4, None)


def test_crossing_faces_keep_their_ids_with_mtcnn():
    """End to end: a generated 400x200 video, the astronaut's face and a mirrored, tinted
    copy crossing (the astronaut in front), MTCNN every 3rd frame."""
    pytest.importorskip("facenet_pytorch")
    from PIL import Image
    from skimage import data

    from gclenet.inference.detection import create_detector

    front = np.asarray(Image.fromarray(data.astronaut()[20:230, 140:320]).resize((90, 105)))
    back = (front[:, ::-1] * np.array([0.8, 0.9, 1.1])).clip(0, 255).astype(np.uint8)
    background = (np.random.default_rng(0).integers(60, 200, (200, 400, 3)) // 40 * 40).astype(np.uint8)
    detector, tracker = create_detector("mtcnn"), FaceTracker()
    ids_front, ids_back = [], []
    for i in range(34):
        frame = background.copy()
        xf, xb = int(10 + 8.5 * i), int(300 - 8.5 * i)
        frame[50:155, xb : xb + 90] = back
        frame[40:145, xf : xf + 90] = front
        shown = tracker.update(i, detector.detect(frame) if i % 3 == 0 else None, frame_size=(400, 200))
        if abs(xf - xb) < 90:
            continue  # the pasted faces overlap: no telling which box is which
        for track in shown:
            centre = (track.box[0] + track.box[2]) / 2
            (ids_front if xf <= centre <= xf + 90 else ids_back if xb <= centre <= xb + 90 else []).append(track.id)
    assert len(set(ids_front)) == 1 and len(set(ids_back)) == 1 and set(ids_front) != set(ids_back)
    assert len(ids_front) >= 20 and len(ids_back) >= 15  # followed before and after crossing
