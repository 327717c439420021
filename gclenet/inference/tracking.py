"""Faces followed between detections: a stable id per face, boxes predicted in between,
probabilities smoothed over a short window, and a summary per id.

The detector runs every few frames; in between, each face's box is moved along the
straight line fitted to its recent detections (constant-velocity prediction, as in
SORT: Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016, with a
least-squares line over the last ``velocity_frames`` frames in place of SORT's Kalman
filter: detector boxes jitter by pixels, and a velocity from two consecutive frames
would carry all of it). When the
detector runs, detections are matched to the predicted boxes with an optimal
assignment (``scipy.optimize.linear_sum_assignment``) on their IoU after growing both
boxes by ``buffer`` of their size on each side (the buffered IoU of C-BIoU, Yang et
al., WACV 2023): a face that moves more than its own width between detector runs, as
a small face does with the detector every few frames, still overlaps its track. Matching against *predicted*
boxes is what keeps two faces' ids apart when their paths cross: each box keeps its
own velocity, so after the crossing each detection is nearest the track that was
heading there. A track missed by the detector is kept (not shown) for ``max_age``
frames, so a face hidden for a moment behind another comes back with its id.

OpenCV's own trackers do not fit here: opencv-python-headless 4.x ships only
TrackerMIL (tens of ms per face and frame) and DNN trackers that need model files
(GOTURN, DaSiamRPN, Nano, Vit); KCF and CSRT are in the contrib build only.

Pure logic: boxes and probability vectors in, tracks out; no frames, no I/O.

    tracker = FaceTracker(window=5)
    for index, frame in enumerate(frames):
        faces = detector.detect(frame) if index % 3 == 0 else None   # None: no detector run
        for track in tracker.update(index, faces):
            probs = tracker.smooth(track.id, classify(crop_face(frame, track.face())))
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gclenet.inference.detection import Face

__all__ = ["FaceTracker", "Track", "TrackSummary", "iou_matrix"]

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)``."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _grow(boxes: np.ndarray, fraction: float) -> np.ndarray:
    """Boxes ``(N, 4)`` grown by ``fraction`` of their width and height on each side."""
    pad = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1) * fraction
    return boxes + np.concatenate([-pad, pad], axis=1)


@dataclass
class Track:
    """One face followed over frames.

    ``box`` is the detector's box on frames where it ran and matched this face
    (``detected`` is then True), a prediction otherwise.
    """

    id: int
    box: Box
    detection: Face  # the last matched detection (score, landmarks)
    first_frame: int
    frame: int  # the frame ``box`` is for
    last_detected: int  # frame of ``detection``
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box change per frame
    origin: np.ndarray = field(default_factory=lambda: np.zeros(4))  # the fitted box at ``last_detected``
    history: list[tuple[int, Box]] = field(default_factory=list)  # recent (frame, detected box)
    hits: int = 1  # detector runs that matched this face
    missed: int = 0  # consecutive detector runs that did not
    probs: np.ndarray | None = None  # the latest smoothed probabilities

    @property
    def detected(self) -> bool:
        return self.frame == self.last_detected

    def face(self) -> Face:
        """A :class:`Face` at the current box, for ``crop_face``: on predicted frames the last
        detection's landmarks are moved and scaled with the box, so eye alignment still works."""
        if self.detected:
            return self.detection
        old = self.detection.box
        sx = (self.box[2] - self.box[0]) / max(old[2] - old[0], 1e-6)
        sy = (self.box[3] - self.box[1]) / max(old[3] - old[1], 1e-6)
        landmarks = None
        if self.detection.landmarks:
            landmarks = [(self.box[0] + (x - old[0]) * sx, self.box[1] + (y - old[1]) * sy)
                         for x, y in self.detection.landmarks]
        return Face(self.box, self.detection.score, landmarks)


@dataclass
class TrackSummary:
    """What happened to one face id over the video."""

    id: int
    first_frame: int
    last_frame: int
    frames: int  # frames whose probabilities were added
    detections: int
    mean_probs: np.ndarray  # mean of the raw probabilities over ``frames``
    label_counts: Counter  # top-1 of the smoothed probabilities, per frame (class index -> frames)

    def to_dict(self, classes: Sequence[str] | None = None) -> dict[str, Any]:
        name = (lambda i: classes[i]) if classes else (lambda i: i)
        shares = {name(i): n / self.frames for i, n in self.label_counts.most_common()} if self.frames else {}
        return {"id": self.id, "first_frame": self.first_frame, "last_frame": self.last_frame,
                "frames": self.frames, "detections": self.detections,
                "label": next(iter(shares), None), "label_shares": shares,
                "mean_probs": {name(i): float(p) for i, p in enumerate(self.mean_probs)}}


class FaceTracker:
    """Ids, predicted boxes and smoothed probabilities for the faces of a video.

    Args:
        iou_threshold: a detection continues a track only if its buffered box overlaps
            the track's buffered predicted box at least this much.
        buffer: each box grows by this fraction of its width and height on each side
            before the overlap is taken (0: plain IoU).
        max_age: frames a track lives on without a matching detection (the face hidden,
            or missed by the detector); a face seen again later gets a new id. Frames,
            not detector runs: how long a face may hide does not depend on ``every``.
        window: frames of probabilities to smooth over (1: no smoothing).
        smoothing: ``"mean"`` (of the last ``window`` frames) or ``"ema"``
            (exponential, with ``alpha = 2 / (window + 1)``, the same centre of mass).
        velocity_frames: the motion is fitted to the detections of this many recent
            frames (at least the last two): longer averages out the detector's jitter,
            shorter follows turns sooner.
    """

    def __init__(self, *, iou_threshold: float = 0.3, buffer: float = 0.5, max_age: int = 30, window: int = 5,
                 smoothing: str = "mean", velocity_frames: int = 10) -> None:
        if smoothing not in ("mean", "ema"):
            raise ValueError(f"smoothing must be 'mean' or 'ema', got {smoothing!r}")
        if window < 1:
            raise ValueError(f"window must be at least 1 frame, got {window}")
        self.iou_threshold, self.buffer, self.max_age = iou_threshold, buffer, max_age
        self.window, self.smoothing, self.velocity_frames = window, smoothing, velocity_frames
        self.alpha = 2.0 / (window + 1)
        self._tracks: list[Track] = []
        self._next_id = 0
        self._recent: dict[int, deque[np.ndarray]] = {}
        self._stats: dict[int, dict[str, Any]] = {}

    @property
    def tracks(self) -> list[Track]:
        """Every live track, also those the last detector run missed (not shown)."""
        return list(self._tracks)

    def _predict(self, frame: int) -> None:
        for track in self._tracks:
            if frame != track.last_detected:
                box = track.origin + track.velocity * (frame - track.last_detected)
                track.box = tuple(float(v) for v in box)
            track.frame = frame

    def update(self, frame: int, detections: Sequence[Face] | None,
               frame_size: tuple[int, int] | None = None) -> list[Track]:
        """Advance to ``frame``; returns the faces to show on it, oldest id first.

        Args:
            frame: the frame's index; must not go back.
            detections: the detector's faces on this frame, or ``None`` where it did not
                run (boxes are then predicted). An empty list means it ran and found none.
            frame_size: ``(width, height)``: tracks predicted wholly outside end.

        Returns:
            Tracks matched by the latest detector run, with boxes for ``frame``.
        """
        if self._tracks and frame < max(t.frame for t in self._tracks):
            raise ValueError(f"frame {frame} is before the tracks' frame: frames must not go back")
        self._predict(frame)
        if detections is not None:
            self._match(frame, list(detections))
        if frame_size is not None:
            width, height = frame_size
            self._end([t for t in self._tracks if t.box[2] <= 0 or t.box[3] <= 0
                       or t.box[0] >= width or t.box[1] >= height])
        return [t for t in self._tracks if t.missed == 0]

    def _match(self, frame: int, detections: list[Face]) -> None:
        from scipy.optimize import linear_sum_assignment

        pairs: list[tuple[int, int]] = []
        if self._tracks and detections:
            overlap = iou_matrix(_grow(np.array([t.box for t in self._tracks]), self.buffer),
                                 _grow(np.array([d.box for d in detections]), self.buffer))
            rows, cols = linear_sum_assignment(-overlap)
            pairs = [(r, c) for r, c in zip(rows, cols) if overlap[r, c] >= self.iou_threshold]
        matched_tracks = {r for r, _ in pairs}
        for r, c in pairs:
            self._continue(self._tracks[r], detections[c], frame)
        for i, track in enumerate(self._tracks):
            if i not in matched_tracks:
                track.missed += 1
        # A track seen once and missed at once was likely a false detection: it ends
        # (SORT's tentative tracks), instead of waiting max_age for a face to claim it.
        self._end([t for t in self._tracks
                   if t.missed and (t.hits == 1 or frame - t.last_detected > self.max_age)])
        matched = {c for _, c in pairs}
        for c, face in enumerate(detections):
            if c not in matched:
                self._start(face, frame)

    def _continue(self, track: Track, face: Face, frame: int) -> None:
        track.detection, track.box, track.last_detected = face, tuple(map(float, face.box)), frame
        track.hits, track.missed = track.hits + 1, 0
        self._stats[track.id]["hits"] = track.hits
        self._fit(track, frame)

    def _fit(self, track: Track, frame: int) -> None:
        """Velocity and current position from a straight line through the recent detections."""
        history = [*track.history, (frame, track.box)]
        recent = [h for h in history if h[0] >= frame - self.velocity_frames]
        track.history = recent if len(recent) >= 2 else history[-2:]
        frames = np.array([f - frame for f, _ in track.history], dtype=np.float64)
        boxes = np.array([b for _, b in track.history], dtype=np.float64)
        if len(frames) < 2:
            track.velocity, track.origin = np.zeros(4), boxes[-1]
        else:
            track.velocity, track.origin = np.polyfit(frames, boxes, 1)

    def _start(self, face: Face, frame: int) -> None:
        track = Track(self._next_id, tuple(map(float, face.box)), face, frame, frame, frame)
        self._fit(track, frame)
        self._next_id += 1
        self._tracks.append(track)
        self._recent[track.id] = deque(maxlen=self.window)
        self._stats[track.id] = {"first": frame, "last": frame, "frames": 0, "sum": None, "labels": Counter(),
                                "hits": 1}

    def _end(self, ended: list[Track]) -> None:
        for track in ended:
            self._tracks.remove(track)
            self._recent.pop(track.id, None)

    def smooth(self, track_id: int, probs: np.ndarray) -> np.ndarray:
        """Add this frame's class probabilities of ``track_id``; returns the smoothed ones
        (also kept as the track's ``probs``). Call at most once per track and frame."""
        track = next((t for t in self._tracks if t.id == track_id), None)
        if track is None:
            raise KeyError(f"no live track {track_id}")
        probs = np.asarray(probs, dtype=np.float64)
        recent = self._recent[track_id]
        if self.smoothing == "mean":
            recent.append(probs)
            smoothed = np.mean(recent, axis=0)
        else:
            smoothed = probs if track.probs is None else self.alpha * probs + (1 - self.alpha) * track.probs
        track.probs = smoothed
        stats = self._stats[track_id]
        stats["last"], stats["frames"] = track.frame, stats["frames"] + 1
        stats["sum"] = probs.copy() if stats["sum"] is None else stats["sum"] + probs
        stats["labels"][int(np.argmax(smoothed))] += 1
        return smoothed

    def summaries(self) -> list[TrackSummary]:
        """One summary per id that got probabilities, ended tracks included, by id."""
        out = []
        for track_id, s in sorted(self._stats.items()):
            if s["frames"]:
                out.append(TrackSummary(track_id, s["first"], s["last"], s["frames"], s["hits"],
                                        s["sum"] / s["frames"], s["labels"]))
        return out

