"""MTCNN on ONNX Runtime (no torch) against facenet-pytorch's MTCNN, the reference."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
facenet = pytest.importorskip("facenet_pytorch")

from gclenet.inference.mtcnn import MTCNN_FILES, OnnxMTCNN  # noqa: E402


def _pasted_faces(boxes, size=(640, 480), seed=0):
    """scikit-image's astronaut face pasted at ``(x, y, width)`` places on a blocky textured background."""
    from skimage import data

    face = data.astronaut()[20:230, 140:320]
    rng = np.random.default_rng(seed)
    canvas = (rng.integers(60, 200, (size[1], size[0], 3)) // 40 * 40).astype(np.uint8)
    for x, y, width in boxes:
        height = width * 7 // 6
        pasted = np.asarray(Image.fromarray(face).resize((width, height)))
        visible = canvas[y : y + height, x : x + width]
        visible[:] = pasted[: visible.shape[0], : visible.shape[1]]
    return canvas


def _photos():
    from skimage import data

    return {
        "astronaut": data.astronaut(),
        "four faces": _pasted_faces([(30, 40, 150), (300, 60, 100), (480, 300, 60), (200, 300, 80)]),
        "face cut by the border": _pasted_faces([(560, 200, 120)]),
        "small photo": np.asarray(Image.fromarray(data.astronaut()).resize((160, 160))),
        "gray": np.repeat(data.camera()[..., None], 3, axis=2),
        "no face": data.coffee(),
    }


@pytest.fixture(scope="module")
def detectors():
    reference = facenet.MTCNN(keep_all=True, min_face_size=20, post_process=False)
    return reference, OnnxMTCNN(min_face_size=20)


@pytest.mark.parametrize("name", list(_photos()))
def test_same_faces_as_facenet_pytorch_within_a_pixel(detectors, name):
    image = _photos()[name]
    reference, ours = detectors
    boxes, probs, points = reference.detect(Image.fromarray(image), landmarks=True)
    got_boxes, got_probs, got_points = ours.detect(image)
    if boxes is None:
        assert len(got_boxes) == 0
        return
    boxes, probs, points = (np.asarray(a, dtype=np.float64) for a in (boxes, probs, points))
    assert len(got_boxes) == len(boxes) >= 1
    np.testing.assert_allclose(got_boxes, boxes, atol=1.0)
    np.testing.assert_allclose(got_points, points, atol=1.0)
    np.testing.assert_allclose(got_probs, probs, atol=1e-3)


def test_four_pasted_faces_are_found(detectors):
    boxes, probs, _ = detectors[1].detect(_photos()["four faces"])
    assert len(boxes) == 4 and probs.min() > 0.95
    pasted = [(30, 40, 150), (300, 60, 100), (480, 300, 60), (200, 300, 80)]
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    inside = [[x <= cx <= x + w and y <= cy <= y + w * 7 // 6 for x, y, w in pasted] for cx, cy in centres]
    assert sorted(row.index(True) for row in inside) == [0, 1, 2, 3]  # one box on each pasted face


def test_shipped_networks_compute_what_facenet_pytorch_does():
    import onnxruntime as ort
    import torch
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    rng = np.random.default_rng(0)
    for network, name, shape in ((PNet, "pnet", (2, 3, 37, 53)), (PNet, "pnet", (1, 3, 145, 193)),
                                 (RNet, "rnet", (5, 3, 24, 24)), (ONet, "onet", (3, 3, 48, 48))):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        with torch.no_grad():
            expected = [t.numpy() for t in network().eval()(torch.from_numpy(x))]
        session = ort.InferenceSession(str(MTCNN_FILES[name]), providers=["CPUExecutionProvider"])
        for got, want in zip(session.run(None, {"image": x}), expected):
            np.testing.assert_allclose(got, want, atol=1e-4)


def test_detector_needs_no_torch(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(_photos()["astronaut"]).save(path)
    code = ("import sys, numpy as np; from PIL import Image; from gclenet.inference.detection import create_detector; "
            f"faces = create_detector('mtcnn').detect(np.asarray(Image.open({str(path)!r}))); "
            "print(len(faces), round(faces[0].score, 2), 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1.0", "False"]
