"""The Python facade: faces in, expressions out.

    from gclenet import Recognizer
    recognizer = Recognizer()                     # shipped FER+ weights, MTCNN, fastest engine here
    for face in recognizer.predict("photo.jpg"):
        print(face.box, face.label, face.probs)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from PIL import Image

from gclenet.data.image_io import ImageLoadError, load_image, upright_image
from gclenet.models.calibration import adjust_probabilities
from gclenet.inference.detection import Face, FaceDetector, box_size, create_detector, crop_face
from gclenet.models.weights import WeightsInfo, read_weights_info, resolve_weights, shipped_weights_path

if TYPE_CHECKING:  # the ONNX Runtime path (the default where an int8 model is at hand) never imports torch
    import torch

__all__ = ["Recognizer", "FacePrediction", "ImageFaces", "ImageInput", "default_weights_path"]

ImageInput = Union[str, Path, Image.Image, np.ndarray]

# The smallest face the detector searches for under a larger min_face_size. MTCNN's boxes
# depend on the image pyramid, which starts at the searched size: searched from the limit
# itself, a face drawn 89 px wide by default came out 86 px wide and was skipped under
# --min-face-size 89. Searched from here, the limit filters the boxes users see by default.
SEARCH_FROM = 40


def default_weights_path() -> Path:
    """The default weights that ship with the package: ``ferplus``, trained by us on FER+."""
    return shipped_weights_path()


@dataclass
class FacePrediction:
    """One face: where it is, how sure the detector is, and the expression."""

    box: list[float]  # x1, y1, x2, y2 in pixels
    score: float  # detector confidence
    label: str
    probs: dict[str, float]
    landmarks: list[list[float]] | None = None

    @property
    def confidence(self) -> float:
        return self.probs[self.label]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImageFaces(list):
    """The faces of one input (:class:`FacePrediction`, largest first), with what the call
    learnt about that input: a list, so code that loops over the faces keeps working.

    Everything a call finds out travels with its result, never on the :class:`Recognizer`:
    one Recognizer serves several threads (the web server's workers) without one call
    reading another's counts.
    """

    def __init__(self, faces: Iterable[FacePrediction] = (), *, skipped_small: int = 0,
                 error: str | None = None) -> None:
        super().__init__(faces)
        self.skipped_small = skipped_small  # faces the detector found below min_face_size
        self.error = error  # why the input could not be read (then there are no faces), as predict --json says

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImageFaces):
            return list.__eq__(self, other) and (self.skipped_small, self.error) == (other.skipped_small, other.error)
        return list.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]  # a list: unhashable

    def to_record(self, file: str) -> dict[str, Any]:
        """The input's ``predict --json`` record: its faces, or the error that kept it from being read."""
        if self.error is not None:
            return {"file": file, "error": self.error}
        return {"file": file, "faces": [face.to_dict() for face in self]}

    def __repr__(self) -> str:
        extra = f", error={self.error!r}" if self.error else ""
        return f"ImageFaces({list.__repr__(self)}, skipped_small={self.skipped_small}{extra})"


def _shown_box(face: Face) -> list[float]:
    """The box as the record gives it and the picture draws it (to a tenth of a pixel)."""
    return [round(v, 1) for v in face.box]


def _shorter_side(box: list[float]) -> float:
    # What min_face_size is compared with: measured on the shown box, so a face drawn
    # 89.0 px wide (88.99 as detected) is kept under a limit of 89.
    return round(box_size(box), 1)


def to_rgb_array(image: ImageInput) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` from a path, PIL image or array (gray or RGB)."""
    if isinstance(image, (str, Path)):
        return np.asarray(load_image(image, "RGB"))
    if isinstance(image, Image.Image):  # treated as its file would be: the same photo, the same faces
        return np.asarray(upright_image(image, "RGB"))
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[..., :3])
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"image arrays must be (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    return array


class Recognizer:
    """Detect faces and classify their expressions.

    Args:
        weights: ``"default"`` (the FER+ weights, ``"ferplus"``), another shipped name
            (``"fer2013"``), or a run checkpoint / exported ``.safetensors``.
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``...
        detector: ``"mtcnn"`` (MTCNN on ONNX Runtime; facenet-pytorch's with
            ``backend="torch"`` or on a GPU), ``"mtcnn-onnx"``, ``"mtcnn-torch"``, ``"haar"``,
            ``"none"`` (each image is one cropped face), or a
            :class:`~gclenet.inference.detection.FaceDetector`.
        backend: ``"auto"`` (the fastest engine measured on this machine, per batch shape:
            :mod:`~gclenet.inference.autoselect`), ``"torch"`` or ``"onnxruntime"`` (an
            export next to the weights, or ``onnx_path``).
        min_face_size: faces whose box (``FacePrediction.box``, as drawn) has a shorter side
            under this many pixels are skipped and counted; the model is trained on 48 px faces.
            The detector searches from ``min(min_face_size, 40)`` px (MTCNN is ~2x faster at
            40 than at 20), so a face's box is the same under any limit of 40 or more.
        margin: crop margin around the detected box, as a fraction of its side. 0: MTCNN's
            square box is already as large as FER2013/FER+'s own framing (the crops the
            models learned from); larger margins lost accuracy (``benchmarks/bench_framing.py``).
        align: level the eyes before cropping when the detector gives landmarks.
        tta: also classify the mirrored face and average.
        balance: how much rarer expressions are favoured: ``0`` answers as trained (best
            overall accuracy), ``1`` as if every class were equally common (best mean class
            accuracy), values between trade one for the other (docs/BENCHMARKS.md, class
            balance). Logit adjustment by the training prior in the weights' record.
        calibrated: apply the temperature in the weights' record, so a face given 80 % is
            right about 80 % of the time on held-out faces; the top class is the same either way.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` (PyTorch autocast) or ``"int8"`` (ONNX Runtime);
            with ``backend="torch"``, ``"auto"`` is bf16 where the hardware is fast at it.
        batch_size: faces classified per forward pass.
    """

    def __init__(
        self,
        weights: str | Path = "default",
        *,
        device: str = "auto",
        detector: str | FaceDetector = "mtcnn",
        backend: str = "auto",
        onnx_path: str | Path | None = None,
        min_face_size: int = 40,
        margin: float = 0.0,
        align: bool = True,
        tta: bool = False,
        balance: float = 0.0,
        calibrated: bool = True,
        precision: str = "auto",
        batch_size: int = 32,
    ) -> None:
        from gclenet.hardware import cuda_available
        from gclenet.inference.backends import create_backend

        self.weights = resolve_weights(weights)
        self.device = ("cuda" if cuda_available() else "cpu") if device == "auto" else device
        self.backend = create_backend(backend, self.weights, device=self.device, precision=precision,
                                      onnx_path=onnx_path)
        self.info: WeightsInfo = self.backend.info
        self.transform = self.info.transforms()  # as evaluate and training's validation preprocess
        self.classes: list[str] = list(self.info.classes)
        if detector == "mtcnn":  # as exact as before where torch runs anyway; else no torch at all
            detector = "mtcnn-torch" if backend == "torch" or self.device != "cpu" else "mtcnn-onnx"
        self.detector = detector if isinstance(detector, FaceDetector) else create_detector(
            detector, device=self.device, min_face_size=min(min_face_size, SEARCH_FROM))
        self.min_face_size, self.margin, self.align, self.tta = min_face_size, margin, align, tta
        # The weights file's record is the one source of the calibration, whichever engine
        # runs (an ONNX export may predate its weights' calibration).
        record = read_weights_info(self.weights)
        self.temperature = record.temperature if calibrated else 1.0
        self.balance, self.class_prior = float(balance), record.class_prior
        self.trained_balance = record.logit_adjustment
        self.adjust(np.full((1, len(self.classes)), 1 / len(self.classes)))  # a bad setting fails here
        self.batch_size = batch_size

    @property
    def skipped_small(self) -> int:
        """Gone: a count stored here could be another thread's call's. Each call's result carries its own."""
        raise AttributeError("Recognizer.skipped_small is per call now: predict(...).skipped_small, "
                             "predict_batch(...)[i].skipped_small, or detect_counted(...)")

    @property
    def model(self) -> torch.nn.Module:
        """The PyTorch deploy model, e.g. for Grad-CAM (built, with torch, if the backend is ONNX Runtime)."""
        return self.backend.torch_model()

    def preprocess(self, crops: list[np.ndarray]) -> torch.Tensor:
        """The model's input batch of face crops (uint8 RGB or gray arrays) as a PyTorch tensor:
        the weights' evaluation transform (what every backend computes)."""
        import torch

        return torch.from_numpy(self.transform.numpy_batch(crops)).contiguous(memory_format=torch.channels_last)

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """Class probabilities ``(len(crops), classes)`` of already-cropped faces."""
        if not crops:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        probs = np.concatenate([self.backend.classify(crops[start : start + self.batch_size], tta=self.tta)
                                for start in range(0, len(crops), self.batch_size)])
        return self.adjust(probs)

    def adjust(self, probs: np.ndarray) -> np.ndarray:
        """An engine's probabilities as this Recognizer answers: the record's temperature and
        ``balance`` (:mod:`gclenet.models.calibration`)."""
        return adjust_probabilities(probs, temperature=self.temperature, prior=self.class_prior, balance=self.balance,
                                    trained_balance=self.trained_balance)

    def _keep_large(self, faces: list[Face]) -> tuple[list[Face], int]:
        if self.detector.name == "none":
            return faces, 0
        kept = [f for f in faces if _shorter_side(_shown_box(f)) >= self.min_face_size]
        return kept, len(faces) - len(kept)

    def detect_counted(self, images: list[np.ndarray]) -> list[tuple[list[Face], int]]:
        """Per RGB image, ``(its faces whose box's shorter side is at least min_face_size,
        largest first; how many smaller ones were skipped)``."""
        return [self._keep_large(faces) for faces in self.detector.detect_batch(images)]

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Per RGB image, its faces whose box's shorter side is at least ``min_face_size``,
        largest first (:meth:`detect_counted` also says how many were skipped)."""
        return [faces for faces, _ in self.detect_counted(images)]

    def crop(self, image: np.ndarray, face: Face) -> np.ndarray:
        """``face``'s crop as the model is shown it (before resizing): square, with the margin,
        eyes levelled. An already-cropped face (detector ``none``) goes in whole and is resized
        (stretched) to the input as in training; squaring it would show padded sides."""
        return image if self.detector.name == "none" else crop_face(image, face, margin=self.margin, align=self.align)

    def face_prediction(self, face: Face, probs: np.ndarray) -> FacePrediction:
        """The record of ``face`` classified as ``probs`` (one row of :meth:`classify`)."""
        return FacePrediction(
            box=_shown_box(face), score=round(face.score, 5),
            label=self.classes[int(probs.argmax())], probs={c: float(v) for c, v in zip(self.classes, probs)},
            landmarks=[list(pt) for pt in face.landmarks] if face.landmarks else None,
        )

    def crop_faces(self, image: ImageInput) -> list[np.ndarray]:
        """The face crops of one image as the model is shown them (before resizing), largest first."""
        array = to_rgb_array(image)
        return [self.crop(array, face) for face in self.detect([array])[0]]

    def predict_batch(self, images: list[ImageInput], *, errors: str = "record") -> list[ImageFaces]:
        """One :class:`ImageFaces` per input, in order; the faces of all of them classified in batches.

        Args:
            images: paths, PIL images or RGB/gray uint8 arrays.
            errors: what an input that cannot be read as an image (missing, empty, corrupt,
                not an image) does. ``"record"``: its result has no faces and ``error``
                says why (as ``predict --json`` reports it), and the other inputs are
                recognised as ever; ``"raise"``: the whole call raises.

        Raises:
            ImageLoadError: an unreadable input, with ``errors="raise"``.
            ValueError: an array that is not an image (wrong dtype or shape), or an unknown ``errors``.
        """
        if errors not in ("record", "raise"):
            raise ValueError(f"errors must be 'record' or 'raise', got {errors!r}")
        arrays: list[np.ndarray | None] = []
        failed: dict[int, str] = {}
        for index, image in enumerate(images):
            try:
                arrays.append(to_rgb_array(image))
            except ImageLoadError as err:
                if errors == "raise":
                    raise
                failed[index] = err.reason
                arrays.append(None)
        readable = [a for a in arrays if a is not None]
        found = iter(self.detect_counted(readable))
        detected = [next(found) if a is not None else ([], 0) for a in arrays]
        probs = iter(self.classify([self.crop(a, face) for a, (faces, _) in zip(arrays, detected) for face in faces]))
        return [ImageFaces([self.face_prediction(face, next(probs)) for face in faces], skipped_small=skipped,
                           error=failed.get(index))
                for index, (faces, skipped) in enumerate(detected)]

    def predict(self, image: ImageInput, *, errors: str = "raise") -> ImageFaces:
        """Faces of one image (path, PIL image or RGB/gray uint8 array), largest first.

        An unreadable image raises :class:`~gclenet.data.image_io.ImageLoadError` (one input:
        nothing else is lost); ``errors="record"`` returns it with ``error`` set instead.
        """
        return self.predict_batch([image], errors=errors)[0]
