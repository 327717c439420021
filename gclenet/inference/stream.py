"""Faces followed over the frames of a video or a webcam: the detector runs every few
frames, a :class:`~gclenet.inference.tracking.FaceTracker` follows the faces in between
(an id per face), every face is classified on every frame, and its probabilities are
smoothed over a short window.

On frames where the detector ran, each face's box, score, landmarks and probabilities
are exactly what :meth:`Recognizer.predict_batch` gives on that frame (the faces are the
detections; ``probs`` are that frame's, unsmoothed); ``smoothed`` adds the window's mean.
In between, the box is the tracker's prediction and the crop is taken there.

    stream = FaceStream(recognizer, detect_every=5, window=5)
    for index, frame in enumerate(frames):
        for face in stream.process([(index, frame)])[0]:
            print(face.id, face.box, face.smoothed_label)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gclenet.inference.recognizer import FacePrediction, Recognizer
from gclenet.inference.tracking import FaceTracker, TrackSummary

__all__ = ["FaceStream", "TrackedFace", "DEFAULT_DETECT_EVERY", "DEFAULT_WINDOW"]

# Frames between detector runs. MTCNN costs several times what following and classifying
# one face does at 640x480; every 5th frame keeps a 30 fps video's boxes on faces that
# move a face's width in a second (tests/inference/test_tracking.py, docs/BENCHMARKS.md).
DEFAULT_DETECT_EVERY = 5
DEFAULT_WINDOW = 5  # frames of probabilities averaged per face: 1/6 s at 30 fps


@dataclass
class TrackedFace(FacePrediction):
    """A face on one frame of a video: its id over the video, whether the detector found it on
    this frame (else its box is predicted), this frame's probabilities (``probs``, ``label``)
    and those smoothed over the last frames (``smoothed``)."""

    id: int = 0
    detected: bool = True
    smoothed: dict[str, float] = field(default_factory=dict)

    @property
    def smoothed_label(self) -> str:
        return max(self.smoothed, key=self.smoothed.get) if self.smoothed else self.label

    def shown(self) -> TrackedFace:
        """The face as drawn: the smoothed probabilities and their label."""
        return replace(self, label=self.smoothed_label, probs=self.smoothed or self.probs)


class FaceStream:
    """Tracked, smoothed expressions over consecutive frames of one video.

    Args:
        recognizer: detects, crops and classifies.
        detect_every: the detector runs on a frame when at least this many frames passed
            since it last ran (1: every frame; then nothing is predicted).
        window: frames of probabilities to smooth over (1: none).
        smoothing: ``"mean"`` of the window or ``"ema"`` (exponential, same centre of mass).
        tracker: options of :class:`~gclenet.inference.tracking.FaceTracker` (iou_threshold,
            buffer, max_age, velocity_frames).
    """

    def __init__(self, recognizer: Recognizer, *, detect_every: int = DEFAULT_DETECT_EVERY,
                 window: int = DEFAULT_WINDOW, smoothing: str = "mean", **tracker: Any) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1 frame, got {detect_every}")
        self.recognizer, self.detect_every = recognizer, detect_every
        self.tracker = FaceTracker(window=window, smoothing=smoothing, **tracker)
        self._last_detection: int | None = None
        self.skipped_small = 0  # faces under the recognizer's min_face_size, over all detector runs

    def _due(self, index: int) -> bool:
        if self._last_detection is None or index - self._last_detection >= self.detect_every:
            self._last_detection = index
            return True
        return False

    def process(self, frames: list[tuple[int, np.ndarray]]) -> list[list[TrackedFace]]:
        """The faces of each frame (``(index, RGB array)``, in order, indices increasing), oldest
        id first. The frames the detector runs on are detected in one batch."""
        due = [self._due(index) for index, _ in frames]
        counted = self.recognizer.detect_counted([frame for (_, frame), d in zip(frames, due) if d]) if any(due) else []
        self.skipped_small += sum(skipped for _, skipped in counted)
        detections = iter(faces for faces, _ in counted)
        out = []
        for (index, frame), detected in zip(frames, due):
            tracks = self.tracker.update(index, next(detections) if detected else None,
                                         frame_size=(frame.shape[1], frame.shape[0]))
            faces = [t.face() for t in tracks]
            probs = self.recognizer.classify([self.recognizer.crop(frame, face) for face in faces])
            shown = []
            for track, face, p in zip(tracks, faces, probs):
                smoothed = self.tracker.smooth(track.id, p)
                record = self.recognizer.face_prediction(face, p)
                shown.append(TrackedFace(**vars(record), id=track.id, detected=track.detected,
                                         smoothed={c: float(v) for c, v in zip(self.recognizer.classes, smoothed)}))
            out.append(shown)
        return out

    def summaries(self) -> list[TrackSummary]:
        """One summary per face id that was classified, by id."""
        return self.tracker.summaries()

