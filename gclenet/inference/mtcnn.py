"""MTCNN without torch: facenet-pytorch's three networks on ONNX Runtime, its pipeline in NumPy.

The networks are facenet-pytorch's (exported once by ``tools/export_mtcnn_onnx.py``,
shipped as ``gclenet/weights/mtcnn_*.onnx``, 2 MB); the pipeline follows
``facenet_pytorch.models.utils.detect_face`` step by step, with the same arithmetic:
the image pyramid and the crops are resampled by area averaging over integer windows
(what ``interpolate(mode="area")``, i.e. adaptive average pooling, computes), here from
one integral image per image; the same thresholds, box regression, squaring, clipping
and non-maximum suppressions (IoU within and across scales, "Min" overlap last). Boxes
agree with facenet-pytorch's to a small fraction of a pixel (tests/inference/test_mtcnn.py);
what differs is float rounding, which can move a borderline candidate across a threshold.

Zhang, Zhang, Li, Qiao, "Joint Face Detection and Alignment Using Multitask Cascaded
Convolutional Networks", IEEE Signal Processing Letters 23 (2016).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gclenet.inference.detection import Face, FaceDetector, mtcnn_faces

__all__ = ["OnnxMTCNN", "OnnxMTCNNDetector", "MTCNN_FILES"]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MTCNN_FILES = {name: WEIGHTS_DIR / f"mtcnn_{name}.onnx" for name in ("pnet", "rnet", "onet")}


def _integral(image: np.ndarray) -> np.ndarray:
    """``(H + 1, W + 1, C)`` int32 sums of ``image[:y, :x]`` (OpenCV's): any window's sum in
    four lookups, exact (a 4K frame sums to under 2**31)."""
    import cv2

    out = cv2.integral(np.ascontiguousarray(image), sdepth=cv2.CV_32S)
    return out[..., None] if out.ndim == 2 else out


def _windows(start: int, length: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive pooling's windows ``[first, last)`` per output cell: floor(i L / n), ceil((i + 1) L / n)."""
    i = np.arange(out)
    return start + (i * length) // out, start + ((i + 1) * length + out - 1) // out


def _area_resample(integral: np.ndarray, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Windows ``boxes`` ``(N, 4)`` (x0, y0, x1, y1 integers, end exclusive) of the image behind
    ``integral``, each resampled to ``(height, width)`` by area averaging and normalised as
    MTCNN's networks take it -> float32 ``(N, 3, height, width)``. The window sums are exact
    integers, so their float32 means are what PyTorch's float32 pooling computes."""
    out = np.empty((len(boxes), height, width, integral.shape[2]), dtype=np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        r0, r1 = _windows(y0, y1 - y0, height)
        c0, c1 = _windows(0, x1 - x0, width)  # within the strip of the box's columns
        strip = integral[:, x0 : x1 + 1]
        rows = np.take(strip, r1, axis=0) - np.take(strip, r0, axis=0)  # window sums down each column
        sums = np.take(rows, c1, axis=1) - np.take(rows, c0, axis=1)
        out[k] = sums / ((r1 - r0)[:, None, None] * (c1 - c0)[None, :, None]).astype(np.float32)
    return np.ascontiguousarray(((out - np.float32(127.5)) * np.float32(0.0078125)).transpose(0, 3, 1, 2))


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first. ``union``: IoU of the boxes
    as they are (torchvision's ``nms``); ``min``: overlap over the smaller box, with
    facenet-pytorch's +1 pixel sizes (its ``nms_numpy``)."""
    if not len(boxes):
        return np.zeros(0, dtype=np.int64)
    plus = 1.0 if method == "min" else 0.0
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float32) for i in range(4))
    areas = (x2 - x1 + plus) * (y2 - y1 + plus)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + plus)
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + plus)
        inter = w * h
        overlap = inter / (np.minimum(areas[i], areas[rest]) if method == "min" else areas[i] + areas[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres (facenet-pytorch's ``rerec``)."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += w * np.float32(0.5) - side * np.float32(0.5)
    boxes[:, 1] += h * np.float32(0.5) - side * np.float32(0.5)
    boxes[:, 2:4] = boxes[:, :2] + side[:, None]
    return boxes


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Boxes moved by the networks' regression, in units of their (+1 pixel) sides (``bbreg``)."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return boxes


def _clip(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Integer windows (x0, y0, x1, y1) of the boxes inside the image (facenet-pytorch's ``pad``:
    cut at the border, not padded), one-based starts made zero-based."""
    x0, y0, x1, y1 = (np.trunc(boxes[:, i]).astype(np.int64) for i in range(4))
    return np.stack([np.maximum(x0, 1) - 1, np.maximum(y0, 1) - 1, np.minimum(x1, width), np.minimum(y1, height)], 1)


class OnnxMTCNN:
    """MTCNN on ONNX Runtime: ``detect(image)`` -> boxes, probabilities, landmarks, as
    ``facenet_pytorch.MTCNN(keep_all=True).detect(image, landmarks=True)`` gives them.

    Args:
        min_face_size: the smallest face searched for, in pixels.
        thresholds: the three networks' score thresholds.
        factor: the scale step of the image pyramid.
        threads: ONNX Runtime intra-op threads (default: ``OMP_NUM_THREADS``, else one per core).
    """

    def __init__(self, min_face_size: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709, threads: int | None = None) -> None:
        import onnxruntime as ort

        from gclenet.inference.backends import ort_threads

        self.min_face_size, self.thresholds, self.factor = min_face_size, thresholds, factor
        options = ort.SessionOptions()
        options.intra_op_num_threads = ort_threads() if threads is None else threads
        missing = [str(p) for p in MTCNN_FILES.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{', '.join(missing)}: MTCNN networks missing from this installation; "
                                    "reinstall gclenet, or use --detector mtcnn-torch")
        self._nets = {name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                      for name, path in MTCNN_FILES.items()}

    def _run(self, name: str, x: np.ndarray) -> list[np.ndarray]:
        return self._nets[name].run(None, {"image": x})

    def _scales(self, height: int, width: int) -> list[float]:
        scale, side, scales = 12.0 / self.min_face_size, min(height, width) * 12.0 / self.min_face_size, []
        while side >= 12:
            scales.append(scale)
            scale, side = scale * self.factor, side * self.factor
        return scales

    def _proposals(self, integral: np.ndarray, height: int, width: int) -> np.ndarray:
        """Stage 1: P-Net over the pyramid -> ``(N, 9)`` boxes, score, regression."""
        found = []
        whole = np.array([[0, 0, width, height]])
        for scale in self._scales(height, width):
            reg, prob = self._run("pnet", _area_resample(integral, whole, int(height * scale + 1),
                                                         int(width * scale + 1)))
            ys, xs = np.nonzero(prob[0, 1] >= self.thresholds[0])
            cells = np.stack([xs, ys], axis=1).astype(np.float32)
            corner = np.floor((2 * cells + 1) / np.float32(scale))
            far = np.floor((2 * cells + 12) / np.float32(scale))
            boxes = np.concatenate([corner, far, prob[0, 1, ys, xs][:, None], reg[0][:, ys, xs].T], axis=1)
            found.append(boxes[_nms(boxes[:, :4], boxes[:, 4], 0.5)])
        boxes = np.concatenate(found) if found else np.zeros((0, 9), dtype=np.float32)
        boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        moved = boxes[:, :4] + boxes[:, 5:9] * np.stack([w, h, w, h], axis=1)
        return _square(np.concatenate([moved, boxes[:, 4:5]], axis=1))

    def _crops(self, integral: np.ndarray, boxes: np.ndarray, side: int, width: int, height: int
               ) -> tuple[np.ndarray, np.ndarray]:
        windows = _clip(boxes, width, height)
        inside = (windows[:, 2] > windows[:, 0]) & (windows[:, 3] > windows[:, 1])
        return _area_resample(integral, windows[inside], side, side), boxes[inside]

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(boxes (N, 4), probabilities (N,), landmarks (N, 5, 2))`` of an RGB uint8 ``(H, W, 3)``
        image, largest box first."""
        height, width = image.shape[:2]
        integral = _integral(image)
        boxes = self._proposals(integral, height, width)
        if len(boxes):  # stage 2: R-Net refines and rejects
            crops, boxes = self._crops(integral, boxes, 24, width, height)
            reg, prob = self._run("rnet", crops) if len(crops) else (np.zeros((0, 4)), np.zeros((0, 2)))
            keep = prob[:, 1] > self.thresholds[1]
            boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
            picked = _nms(boxes[:, :4], boxes[:, 4], 0.7)
            boxes = _square(_regress(boxes[picked], reg[keep][picked]))
        points = np.zeros((0, 5, 2), dtype=np.float32)
        if len(boxes):  # stage 3: O-Net gives the final boxes and the landmarks
            crops, boxes = self._crops(integral, boxes, 48, width, height)
            reg, marks, prob = self._run("onet", crops) if len(crops) else (np.zeros((0, 4)),) * 3
            keep = prob[:, 1] > self.thresholds[2] if len(crops) else np.zeros(0, dtype=bool)
            boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
            marks = marks[keep]
            w, h = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
            points = np.stack([w * marks[:, :5] + boxes[:, 0:1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)
            boxes = _regress(boxes, reg[keep])
            picked = _nms(boxes[:, :4], boxes[:, 4], 0.7, method="min")
            boxes, points = boxes[picked], points[picked]
        order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
        return boxes[order, :4], boxes[order, 4], points[order]


class OnnxMTCNNDetector(FaceDetector):
    """MTCNN on ONNX Runtime behind the detector interface (faces scoring under
    ``threshold`` are dropped, as :class:`~gclenet.inference.detection.MTCNNDetector` does)."""

    name = "mtcnn"

    def __init__(self, min_face_size: int = 40, threshold: float = 0.9, **options: Any) -> None:
        self.threshold = threshold
        self._mtcnn = OnnxMTCNN(min_face_size=min_face_size, **options)

    def detect(self, image: np.ndarray) -> list[Face]:
        boxes, probs, points = self._mtcnn.detect(np.asarray(image))
        return mtcnn_faces(boxes, probs, points, self.threshold)
