import numpy as np
import pytest

from gclenet.inference.detection import create_detector

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


def test_mtcnn_finds_the_astronaut(astronaut):
    pytest.importorskip("facenet_pytorch")
    (face,) = create_detector("mtcnn").detect(astronaut)
    x1, y1, x2, y2 = face.box
    assert face.score > 0.99 and 150 < x1 < 200 and 20 < y1 < 80 and 250 < x2 < 300 and 150 < y2 < 220
    (left_eye, right_eye, *_rest) = face.landmarks
    assert left_eye[0] < right_eye[0]


def test_haar_fallback(astronaut):
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "CascadeClassifier"):
        with pytest.raises(RuntimeError, match="OpenCV 5"):
            create_detector("haar")
        return
    faces = create_detector("haar").detect(astronaut)
    assert len(faces) >= 1 and faces[0].box[0] < 250 < faces[0].box[2]


def test_no_face_and_unknown_detector():
    pytest.importorskip("facenet_pytorch")
    assert create_detector("mtcnn").detect(np.full((120, 160, 3), 127, dtype=np.uint8)) == []
    with pytest.raises(ValueError, match="valid: mtcnn, mtcnn-onnx, mtcnn-torch, haar, none"):
        create_detector("yolo")


def test_one_measure_of_a_face_size():
    from gclenet.inference.detection import Face, box_size

    wide_but_short, square = (0, 0, 100, 20), (0, 0, 50, 50)
    assert box_size(wide_but_short) == 20 < box_size(square) == 50  # the shorter side, not the width
    assert Face(box=square, score=1.0).size == box_size(square)
