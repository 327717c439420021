"""What analysing a video found: a typed record (as :class:`~gclenet.inference.recognizer.FacePrediction`
is for a face), the running tally behind it, and the record in words."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gclenet.inference.detection import box_size
from gclenet.inference.stream import TrackedFace

__all__ = ["VideoRecord", "LargestFaceTally", "summary_text"]

NO_FACE = "no face"


@dataclass
class VideoRecord:
    """One video: its frames, the largest face's expressions over them, and one summary per face id."""

    file: str
    fps: float
    frames: int  # decoded
    frames_analysed: int
    broken_frames: int  # could not be decoded, skipped
    summary: dict[str, float]  # share of analysed frames by the largest face's smoothed label (or "no face")
    frames_with_face: int
    mean_probs: dict[str, float]  # the largest face's probabilities, averaged over the frames with a face
    faces: list[dict[str, Any]]  # per face id: TrackSummary.to_dict()
    detect_every: int
    window: int
    skipped_small: int  # faces under the recognizer's min_face_size, over all detector runs
    outputs: list[str] = field(default_factory=list)  # the files written, with ``out``

    def to_dict(self) -> dict[str, Any]:
        """The record ``predict --json`` prints (``type: video``; ``outputs`` where files were written)."""
        values = {"file": self.file, "type": "video", **{k: v for k, v in self.__dict__.items() if k != "file"}}
        if not self.outputs:
            values.pop("outputs")
        return values


class LargestFaceTally:
    """Per analysed frame, the largest face's smoothed label and its probabilities: all a
    video's summary keeps in memory, whatever its length."""

    def __init__(self, classes: list[str]) -> None:
        self.classes = classes
        self.analysed = 0
        self.counts: Counter[str] = Counter()
        self.prob_sum = np.zeros(len(classes))

    def add(self, faces: list[TrackedFace]) -> None:
        self.analysed += 1
        top = max(faces, key=lambda f: box_size(f.box), default=None)  # as detectors order faces
        self.counts[top.smoothed_label if top else NO_FACE] += 1
        if top:
            np.add(self.prob_sum, [top.probs[c] for c in self.classes], out=self.prob_sum)

    @property
    def frames_with_face(self) -> int:
        return self.analysed - self.counts[NO_FACE]

    def summary(self) -> dict[str, float]:
        return {name: self.counts[name] / self.analysed for name in [*self.classes, NO_FACE] if self.counts[name]}

    def mean_probs(self) -> dict[str, float]:
        with_face = self.frames_with_face
        return {c: float(self.prob_sum[i] / with_face) for i, c in enumerate(self.classes)} if with_face else {}


def summary_text(record: VideoRecord) -> str:
    """A video record in words: the share of frames in which each expression was the largest
    face's (smoothed) answer, the mean probability of each class over the frames with a face,
    then a line per face id."""
    def shares(items: dict[str, float]) -> str:
        return ", ".join(f"{name} {share:.0%}" for name, share in sorted(items.items(), key=lambda kv: -kv[1]))

    lines = [f"{record.file}: {record.frames_analysed} frames analysed; share of frames by the largest "
             f"face's expression: {shares(record.summary)}"]
    if record.mean_probs:
        means = ", ".join(f"{name} {p:.2f}" for name, p in sorted(record.mean_probs.items(), key=lambda kv: -kv[1]))
        lines.append(f"  mean probability over the {record.frames_with_face} frame(s) with a face: {means}")
    for face in record.faces:
        lines.append(f"  face #{face['id']}: frames {face['first_frame']}-{face['last_frame']} ({face['frames']} "
                     f"analysed, {face['detections']} detected); share of frames: {shares(face['label_shares'])}")
    return "\n".join(lines) + "\n"
