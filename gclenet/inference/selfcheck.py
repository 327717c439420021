"""The numerical self-check a faster classifier engine passes on *this* machine before ``auto`` uses it.

An engine's accuracy is a property of the model and the machine: the same int8 file that
agreed with fp32 where it was exported lost 6.6 accuracy points on an AVX2-only CPU
(ONNX Runtime's U8S8 kernels saturate without VNNI). A record written at export is no
evidence elsewhere, so on the first run on a machine every candidate faster than the
fp32 reference is run on a fixed set of faces that ship with gclenet, and compared with
the reference run here:

* the faces: the demo photo's face (``gclenet/assets/astronaut.jpg``) under
  :data:`VARIANTS` crops, mirror images, lighting changes, rotations and noise, made
  deterministically with Pillow and NumPy (no data set, nothing downloaded);
* the figure: the mean total-variation distance between the candidate's and the
  reference's class probabilities (``0.5 * sum |p - q|`` per face, 0 = identical, 1 =
  disjoint), which moves long before the top-1 answers do;
* the threshold, :data:`MAX_DISTANCE`, chosen from figures of engines that are right and
  of one that is not (docs/BENCHMARKS.md, "Engines"): a good int8 model, bf16 autocast and
  the saturating int8 file on an emulated AVX2 CPU.

This module imports no torch: engines are passed in as functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

__all__ = ["CheckResult", "check_faces", "compare_probabilities", "self_check", "MAX_DISTANCE",
           "MIN_AGREEMENT", "CHECK_PHOTO", "FACE_BOX"]

CHECK_PHOTO = Path(__file__).resolve().parents[1] / "assets" / "astronaut.jpg"
# The face in CHECK_PHOTO as the shipped MTCNN boxes it (x1, y1, x2, y2): fixed here so the
# check needs no detector and gives the same crops everywhere.
FACE_BOX = (179.8, 60.3, 268.8, 173.6)
# Mean total-variation distance to the fp32 reference above which an engine is refused, and
# the share of faces whose top-1 answer must agree. See the module's docstring for the origin.
MAX_DISTANCE = 0.05
MIN_AGREEMENT = 0.8

Probabilities = Callable[[Sequence[np.ndarray]], np.ndarray]  # face crops -> (n, classes) probabilities


@dataclass(frozen=True)
class CheckResult:
    """How a candidate engine's answers compare with the reference's on the check faces."""

    faces: int
    mean_distance: float  # mean total-variation distance of the probabilities
    max_distance: float
    agreement: float  # share of faces with the same top-1 class
    threshold: float = MAX_DISTANCE
    min_agreement: float = MIN_AGREEMENT

    @property
    def passed(self) -> bool:
        return self.mean_distance <= self.threshold and self.agreement >= self.min_agreement

    def reason(self) -> str:
        """Why the engine was refused ("" where it passed)."""
        if self.passed:
            return ""
        if self.mean_distance > self.threshold:
            return (f"self-check failed: its probabilities differ from fp32's here by {self.mean_distance:.3f} "
                    f"on average (limit {self.threshold})")
        return (f"self-check failed: its top answer agrees with fp32's here on {self.agreement:.0%} of the "
                f"check faces (at least {self.min_agreement:.0%} needed)")

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"distance {self.mean_distance:.3f} (max {self.max_distance:.3f}, limit {self.threshold}), "
                f"top-1 agreement {self.agreement:.0%} on {self.faces} faces: {verdict}")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> CheckResult:
        return cls(**{k: values[k] for k in ("faces", "mean_distance", "max_distance", "agreement", "threshold",
                                             "min_agreement") if k in values})


# (scale of the box, x shift, y shift as fractions of the box, mirrored, rotation in degrees,
#  brightness, contrast, gamma, noise sigma, occluded part): a face as a detector, a camera and
# a room vary it. The photo's face is happy beyond doubt, and answers that sure hide an engine's
# errors; occluded faces and the photo's other parts (below) give answers near the boundaries
# between classes, where an engine that computes wrongly shows it.
VARIANTS: tuple[tuple[float, float, float, bool, float, float, float, float, float, str], ...] = tuple(
    (scale, dx, dy, mirror, angle, bright, contrast, gamma, noise, occluded)
    for scale, dx, dy, occluded in ((1.0, 0, 0, ""), (0.85, 0, 0.05, "mouth"), (1.2, 0, 0, "eyes"),
                                    (1.45, 0, -0.05, ""), (1.0, 0.1, 0, "mouth"), (1.0, -0.1, 0.05, "left"))
    for mirror, angle in ((False, 0.0), (True, 8.0))
    for bright, contrast, gamma, noise in ((1.0, 1.0, 1.0, 0.0), (0.6, 0.8, 1.4, 0.0), (1.3, 1.2, 0.7, 6.0),
                                            (0.9, 0.5, 1.0, 12.0))
)
# Square windows over the whole photo (fractions of its side: size, left, top): suit, flag,
# helmet, background, each classified as if it were a face.
WINDOWS: tuple[tuple[float, float, float], ...] = tuple(
    (size, left, top) for size in (0.25, 0.4) for left in (0.0, 0.3, 0.6) for top in (0.0, 0.3, 0.6)
)
_OCCLUSIONS = {"mouth": (0.2, 0.6, 0.8, 0.9), "eyes": (0.1, 0.25, 0.9, 0.5), "left": (0.0, 0.0, 0.5, 1.0)}


@lru_cache(maxsize=1)
def _photo() -> Image.Image:
    with Image.open(CHECK_PHOTO) as image:
        return image.convert("RGB")


def _face_variant(photo: Image.Image, rng: np.random.Generator, scale: float, dx: float, dy: float, mirror: bool,
                  angle: float, bright: float, contrast: float, gamma: float, noise: float,
                  occluded: str) -> np.ndarray:
    x1, y1, x2, y2 = FACE_BOX
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
    half = side * scale / 2
    left, top = cx + dx * side - half, cy + dy * side - half
    face = photo.rotate(angle, resample=Image.BILINEAR, center=(cx, cy)) if angle else photo
    face = face.crop((round(left), round(top), round(left + 2 * half), round(top + 2 * half)))
    if mirror:
        face = face.transpose(Image.FLIP_LEFT_RIGHT)
    face = ImageEnhance.Contrast(ImageEnhance.Brightness(face).enhance(bright)).enhance(contrast)
    array = 255.0 * (np.asarray(face, dtype=np.float32) / 255.0) ** gamma
    if occluded:
        h, w = array.shape[:2]
        a, b, c, d = _OCCLUSIONS[occluded]
        array[round(b * h):round(d * h), round(a * w):round(c * w)] = 128.0
    if noise:
        array = array + rng.normal(0.0, noise, array.shape)
    return np.clip(array, 0, 255).round().astype(np.uint8)


def check_faces() -> list[np.ndarray]:
    """The check set, RGB uint8 crops: :data:`VARIANTS` of the demo photo's face, then :data:`WINDOWS` of it."""
    photo, rng = _photo(), np.random.default_rng(0)
    faces = [_face_variant(photo, rng, *variant) for variant in VARIANTS]
    side = min(photo.size)
    for size, left, top in WINDOWS:
        box = (round(left * side), round(top * side), round((left + size) * side), round((top + size) * side))
        faces.append(np.asarray(photo.crop(box)))
    return faces


def compare_probabilities(reference: np.ndarray, candidate: np.ndarray, *, threshold: float = MAX_DISTANCE,
                          min_agreement: float = MIN_AGREEMENT) -> CheckResult:
    """:class:`CheckResult` of ``candidate``'s probabilities against ``reference``'s (same faces)."""
    reference, candidate = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape or reference.ndim != 2 or not len(reference):
        raise ValueError(f"need two (faces, classes) arrays of one shape, got {reference.shape} and {candidate.shape}")
    distance = 0.5 * np.abs(reference - candidate).sum(axis=1)
    if not np.isfinite(distance).all():
        distance = np.where(np.isfinite(distance), distance, 1.0)  # NaNs out of an engine: as far off as can be
    agreement = float((reference.argmax(1) == candidate.argmax(1)).mean())
    return CheckResult(len(reference), round(float(distance.mean()), 5), round(float(distance.max()), 5),
                       round(agreement, 5), threshold, min_agreement)


def self_check(reference: Probabilities, candidates: dict[str, Probabilities], *,
               faces: Sequence[np.ndarray] | None = None) -> dict[str, CheckResult]:
    """Each candidate's :class:`CheckResult` against ``reference`` on ``faces`` (default :func:`check_faces`)."""
    faces = list(check_faces() if faces is None else faces)
    expected = reference(faces)
    return {name: compare_probabilities(expected, run(faces)) for name, run in candidates.items()}
