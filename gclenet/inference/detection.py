"""Face detectors behind one interface, and face cropping with optional eye alignment.

* ``mtcnn`` / ``mtcnn-onnx``: MTCNN (the paper's detector, five landmarks) on ONNX
  Runtime, without torch (:mod:`gclenet.inference.mtcnn`).
* ``mtcnn-torch``: MTCNN from facenet-pytorch (weights ship inside its wheel), on
  PyTorch: the same networks, the reference the ONNX one is tested against.
* ``haar``: OpenCV's frontal-face Haar cascade (needs OpenCV 4.x: OpenCV 5 dropped it).
* ``none``: the whole image is one face (already-cropped inputs such as FER2013).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

__all__ = ["Face", "FaceDetector", "create_detector", "crop_face", "mtcnn_faces", "DETECTORS"]

DETECTORS = ("mtcnn", "mtcnn-onnx", "mtcnn-torch", "haar", "none")


def box_size(box: Sequence[float]) -> float:
    """The shorter side of a box ``(x1, y1, x2, y2)``: the one measure of a face's size."""
    return min(box[2] - box[0], box[3] - box[1])


@dataclass
class Face:
    """A detected face: box ``(x1, y1, x2, y2)`` in pixels, score, optional 5 landmarks."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: list[tuple[float, float]] | None = None  # eyes (left, right), nose, mouth corners
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> float:
        """The box's shorter side: what "largest face" and ``min_face_size`` mean everywhere."""
        return box_size(self.box)


class FaceDetector:
    name = "base"

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 ``(H, W, 3)`` array, largest first."""
        raise NotImplementedError

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect(image) for image in images]


class WholeImageDetector(FaceDetector):
    name = "none"

    def detect(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        return [Face((0.0, 0.0, float(width), float(height)), 1.0)]


def mtcnn_faces(boxes, probs, points, threshold: float) -> list[Face]:  # noqa: ANN001 - MTCNN's arrays or None
    """MTCNN's boxes, probabilities and landmarks as faces scoring at least ``threshold``, largest first."""
    if boxes is None:
        return []
    faces = [
        Face(tuple(float(v) for v in box), float(p), [tuple(map(float, pt)) for pt in pts])
        for box, p, pts in zip(boxes, probs, points)
        if p is not None and p >= threshold
    ]
    return sorted(faces, key=lambda f: -f.size)


class MTCNNDetector(FaceDetector):
    """facenet-pytorch's MTCNN (imports torch and torchvision)."""

    name = "mtcnn"

    def __init__(self, device: str = "cpu", min_face_size: int = 40, threshold: float = 0.9) -> None:
        from facenet_pytorch import MTCNN

        self.threshold = threshold
        self._mtcnn = MTCNN(keep_all=True, device=device, min_face_size=min_face_size, post_process=False)

    def detect(self, image: np.ndarray) -> list[Face]:
        boxes, probs, points = self._mtcnn.detect(Image.fromarray(image), landmarks=True)
        return mtcnn_faces(boxes, probs, points, self.threshold)

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        if len({im.shape for im in images}) != 1:  # MTCNN batches only same-size images
            return [self.detect(im) for im in images]
        boxes, probs, points = self._mtcnn.detect(np.stack(images), landmarks=True)
        return [mtcnn_faces(b, p, pt, self.threshold) for b, p, pt in zip(boxes, probs, points)]


class HaarDetector(FaceDetector):
    name = "haar"

    def __init__(self, min_face_size: int = 40) -> None:
        try:
            import cv2
        except ImportError:
            raise RuntimeError("the Haar detector needs OpenCV 4.x: pip install 'opencv-python-headless<5'") from None
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no CascadeClassifier (removed in OpenCV 5); "
                               "pip install 'opencv-python-headless<5' or use --detector mtcnn")
        self._cv2 = cv2
        self.min_face_size = min_face_size
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def detect(self, image: np.ndarray) -> list[Face]:
        gray = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                               minSize=(self.min_face_size, self.min_face_size))
        faces = [Face((float(x), float(y), float(x + w), float(y + h)), 1.0) for x, y, w, h in found]
        return sorted(faces, key=lambda f: -f.size)


def create_detector(name: str, *, device: str = "cpu", min_face_size: int = 40) -> FaceDetector:
    """A detector by name: ``mtcnn`` (= ``mtcnn-onnx``), ``mtcnn-torch``, ``haar`` or ``none``."""
    if name in ("mtcnn", "mtcnn-onnx"):
        from gclenet.inference.mtcnn import OnnxMTCNNDetector

        return OnnxMTCNNDetector(min_face_size=min_face_size)
    if name == "mtcnn-torch":
        return MTCNNDetector(device=device, min_face_size=min_face_size)
    if name == "haar":
        return HaarDetector(min_face_size=min_face_size)
    if name == "none":
        return WholeImageDetector()
    raise ValueError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")


def _window(image: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """``image[top:bottom, left:right]``, edge-replicated where the window leaves the image
    (also a window wholly beyond it, as a box a detector puts past the border can give)."""
    height, width = image.shape[:2]
    if 0 <= left and 0 <= top and right <= width and bottom <= height:
        return image[top:bottom, left:right]
    rows = np.clip(np.arange(top, bottom), 0, height - 1)
    cols = np.clip(np.arange(left, right), 0, width - 1)
    return image[np.ix_(rows, cols)]


def crop_face(image: np.ndarray, face: Face, *, margin: float = 0.0, align: bool = True) -> np.ndarray:
    """A square crop around ``face`` grown by ``margin`` on each side, eyes levelled if known.

    Parts of the square beyond the image are filled by edge replication, so faces at
    the border keep their proportions, also when levelling the eyes turns them. Only a
    window around the face is turned, not the whole frame.
    """
    x1, y1, x2, y2 = face.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (1 + 2 * margin) / 2
    angle = 0.0
    if align and face.landmarks:
        (lx, ly), (rx, ry) = face.landmarks[0], face.landmarks[1]
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
        if abs(angle) <= 1.0:
            angle = 0.0
    reach = half * math.sqrt(2) if angle else half  # the square's corners, turned by any angle
    left, top = math.floor(cx - reach) - 1, math.floor(cy - reach) - 1
    window = _window(image, left, top, math.ceil(cx + reach) + 2, math.ceil(cy + reach) + 2)
    if angle:
        window = np.asarray(Image.fromarray(window).rotate(angle, resample=Image.BILINEAR,
                                                           center=(cx - left, cy - top)))
    box = (round(cx - half) - left, round(cy - half) - top, round(cx + half) - left, round(cy + half) - top)
    return np.ascontiguousarray(window[box[1] : box[3], box[0] : box[2]])
