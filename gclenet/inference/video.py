"""Video and webcam: frames streamed through a :class:`Recognizer`, faces followed between
detector runs (:class:`~gclenet.inference.stream.FaceStream`), constant memory.

Per analysed frame and face, its id, box, whether the detector found it there, its
probabilities and its smoothed label go to a CSV written as the video plays; the
annotated video is written frame by frame; only per-class counts and per-id sums stay in
memory. The probability plot is drawn from the CSV at the end. Nothing here prints:
results are returned, and what cannot be done is raised.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from gclenet.fileio import atomic_write_bytes, named_os_error
from gclenet.inference.recognizer import Recognizer
from gclenet.inference.stream import DEFAULT_DETECT_EVERY, DEFAULT_WINDOW, FaceStream, TrackedFace
from gclenet.inference.video_record import LargestFaceTally, VideoRecord, summary_text

__all__ = ["analyse_video", "plot_video_probabilities", "run_webcam", "require_display",
           "WebcamUnavailable", "CSV_COLUMNS"]

# The per-frame CSV: one row per face and analysed frame (a frame without faces: one row,
# face_id empty). faces: how many on the frame; detected: 1 where the detector found the
# face on this frame (box and probabilities as `predict` gives them), 0 where the box is
# the tracker's; then the frame's probabilities, and the label smoothed over the window.
CSV_COLUMNS = ("frame", "time_s", "faces", "face_id", "detected", "x1", "y1", "x2", "y2", "label")


class WebcamUnavailable(RuntimeError):
    """No display, no such camera, or an OpenCV build without windows: nothing to show."""


def _cv2():
    # FFmpeg, under OpenCV, prints its own lines ("moov atom not found") for a broken file
    # before gclenet's one line about it. OpenCV reads this when it first uses FFmpeg in a
    # process (in `gclenet predict`, here); a user's own setting stands.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    import cv2

    return cv2


def _rows(frame_index: int, fps: float, faces: list[TrackedFace], classes: list[str]) -> list[list[Any]]:
    head = [frame_index, f"{frame_index / fps:.3f}", len(faces)]
    if not faces:
        return [head + [""] * (len(CSV_COLUMNS) - 3 + len(classes) + 1)]
    return [head + [face.id, int(face.detected), *face.box, face.label, *(f"{face.probs[c]:.5f}" for c in classes),
                    face.smoothed_label] for face in faces]


class _VideoOutputs:
    """``<stem>.frames.csv`` and ``<stem>.annotated.mp4`` under ``out``, written as the video plays
    into hidden temporary files that replace the outputs only when the whole video went well."""

    def __init__(self, out: Path, stem: str, fps: float, classes: list[str]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.stem, self.fps, self.classes = out, stem, fps, classes
        self.tmp_csv = out / f".{stem}.frames.csv.tmp"
        self.tmp_video: Path | None = None
        self.writer: Any = None
        self.csv_handle = open(self.tmp_csv, "w", newline="")
        self.rows = csv.writer(self.csv_handle)
        self.rows.writerow([*CSV_COLUMNS, *classes, "smoothed_label"])

    def path(self, suffix: str) -> Path:
        return self.out / f"{self.stem}.{suffix}"

    def frame(self, index: int, frame: np.ndarray, faces: list[TrackedFace], analysed: bool) -> None:
        """One frame: its CSV rows where it was analysed, and its annotated picture."""
        from gclenet.inference.annotate import annotate

        cv2 = _cv2()
        if analysed:
            self.rows.writerows(_rows(index, self.fps, faces, self.classes))
        if self.writer is None:
            self.tmp_video = self.out / f".{self.stem}.annotated.mp4.tmp.mp4"
            height, width = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                          (width, height))
        self.writer.write(cv2.cvtColor(annotate(frame, [f.shown() for f in faces], bars=True), cv2.COLOR_RGB2BGR))

    def finish(self) -> None:
        """Flush and check both files (a full disk shows here at the latest)."""
        self.csv_handle.close()
        if self.writer is not None:
            self.writer.release()
            _check_video(_cv2(), self.tmp_video, self.path("annotated.mp4"))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
        with contextlib.suppress(OSError):  # closed by finish, or failing: the error is already on its way
            self.csv_handle.close()

    def discard(self) -> None:
        _discard(self.tmp_video, self.tmp_csv)

    def commit(self, record: VideoRecord, video_name: str) -> None:
        """The outputs in place, then the probability plot and the summary drawn from them."""
        os.replace(self.tmp_csv, self.path("frames.csv"))
        if self.tmp_video is not None:
            os.replace(self.tmp_video, self.path("annotated.mp4"))
        plot_video_probabilities(self.path("frames.csv"), self.path("probabilities.png"), self.classes,
                                 video=video_name)
        record.outputs = [str(self.path(s)) for s in ("annotated.mp4", "frames.csv", "probabilities.png",
                                                      "summary.txt")]
        text = summary_text(record).encode("utf-8", "surrogateescape")
        atomic_write_bytes(self.path("summary.txt"), lambda handle: handle.write(text))


class _FrameBatches:
    """Frames wait here in order until enough of them are to be analysed for one detector
    batch; frames between analysed ones are kept only to be drawn with the latest faces.
    Capped, so that a large ``every`` cannot hold thousands of frames: batches are smaller then."""

    def __init__(self, stream: FaceStream, tally: LargestFaceTally, outputs: _VideoOutputs | None,
                 batch_size: int) -> None:
        self.stream, self.tally, self.outputs, self.batch_size = stream, tally, outputs, batch_size
        self.pending: list[tuple[int, np.ndarray, bool]] = []
        self.last_faces: list[TrackedFace] = []

    def add(self, index: int, frame: np.ndarray, analyse: bool) -> None:
        if analyse or self.outputs is not None:
            self.pending.append((index, frame, analyse))
        if sum(a for _, _, a in self.pending) >= self.batch_size or len(self.pending) >= 4 * self.batch_size:
            self.flush()

    def flush(self) -> None:
        results = iter(self.stream.process([(i, frame) for i, frame, analyse in self.pending if analyse]))
        for index, frame, analyse in self.pending:
            if analyse:
                self.last_faces = next(results)
                self.tally.add(self.last_faces)
            if self.outputs is not None:
                self.outputs.frame(index, frame, self.last_faces, analyse)
        self.pending.clear()


def _frames(capture: Any, total: int | None, progress_bar: Any) -> Iterator[tuple[int, np.ndarray | None]]:
    """``(index, RGB frame)`` of each decoded frame; ``(index, None)`` for a broken one. The
    index of the last yield plus one is the number of frames."""
    cv2 = _cv2()
    index = failed_reads = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            # Maybe a broken frame (skip it, go on), maybe the end: containers often
            # announce more frames than they hold. Only a later good frame tells.
            if total and index < total - 1 and failed_reads < 25:
                failed_reads += 1
                index += 1
                continue
            return
        for broken in range(index - failed_reads, index):
            yield broken, None
        failed_reads = 0
        yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1
        progress_bar.update(1)


def analyse_video(recognizer: Recognizer, path: Path, *, out: Path | None = None, every: int = 1,
                  detect_every: int = DEFAULT_DETECT_EVERY, window: int = DEFAULT_WINDOW, smoothing: str = "mean",
                  batch_size: int = 8, progress: bool = True, stem: str | None = None) -> VideoRecord:
    """Analyse every ``every``-th frame of ``path``, following faces between detector runs.

    Args:
        every: frames between analysed frames; the others are drawn with the latest faces.
        detect_every: the detector runs on an analysed frame when at least this many frames
            passed since it last ran; in between, faces are followed by the tracker.
        window, smoothing: probabilities smoothed per face over this many analysed frames
            (``"mean"`` or ``"ema"``); 1: none.
        batch_size: analysed frames detected in one batch.

    With ``out``: ``<stem>.annotated.mp4`` (each face boxed with its id and smoothed label),
    ``<stem>.frames.csv`` (one row per face and analysed frame: :data:`CSV_COLUMNS`, the
    classes' probabilities, ``smoothed_label``), ``<stem>.probabilities.png`` and
    ``<stem>.summary.txt``; ``stem`` defaults to the video's file name without suffix.
    The record has the share of each (smoothed) expression of the largest face per
    analysed frame (``summary``), one summary per face id (``faces``) and the count of
    ``broken_frames``: frames that could not be decoded and were skipped.

    Raises:
        ValueError: the file cannot be opened as a video, or no frame of it decoded.
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: cannot open as a video (not a video, or a codec OpenCV lacks); "
                         "convert it to H.264 MP4 or check the file")
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not 1.0 <= fps <= 240.0:  # 0, NaN, or the 1000 fps that browser-recorded WebM files report
        fps = 25.0
    total = int(max(capture.get(cv2.CAP_PROP_FRAME_COUNT), 0)) or None  # some containers report < 0
    every, stem, classes = max(1, every), stem or path.stem, recognizer.classes
    stream = FaceStream(recognizer, detect_every=detect_every, window=window, smoothing=smoothing)
    tally = LargestFaceTally(classes)
    outputs = frames = broken = 0
    bar = tqdm(total=total, desc=path.name, unit="frame", disable=not progress, file=sys.stderr)
    try:
        outputs = _VideoOutputs(out, stem, fps, classes) if out else None
        batches = _FrameBatches(stream, tally, outputs, batch_size)
        for index, frame in _frames(capture, total, bar):
            frames = index + 1
            if frame is None:
                broken += 1
            else:
                batches.add(index, frame, analyse=index % every == 0)
        batches.flush()
        if outputs is not None:
            outputs.finish()
    except BaseException as err:  # a full disk, a kill, a bug: no half-written output stays behind
        if outputs:
            outputs.discard()
        if isinstance(err, OSError) and out is not None:
            raise named_os_error(err, out / f"{stem}.frames.csv") from err
        raise
    finally:
        bar.close()
        capture.release()
        if outputs:
            outputs.close()
    if tally.analysed == 0:
        if outputs:
            outputs.discard()
        raise ValueError(f"{path}: no frame could be decoded; the video is empty or unreadable")
    record = VideoRecord(file=str(path), fps=fps, frames=frames, frames_analysed=tally.analysed, broken_frames=broken,
                         summary=tally.summary(), frames_with_face=tally.frames_with_face,
                         mean_probs=tally.mean_probs(), faces=[s.to_dict(classes) for s in stream.summaries()],
                         detect_every=detect_every, window=window, skipped_small=stream.skipped_small)
    if outputs:
        outputs.commit(record, path.name)
    return record


def _discard(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def _check_video(cv2: Any, written: Path, shown_as: Path) -> None:
    """OpenCV's writer does not raise when the disk fills (it logs a warning per frame and
    leaves a file without its index): read the file back before it replaces anything."""
    capture = cv2.VideoCapture(str(written))
    try:
        whole = capture.isOpened() and capture.get(cv2.CAP_PROP_FRAME_COUNT) > 0
    finally:
        capture.release()
    if not whole:  # no reason is given: the one we can see, a nearly full disk, stops the run as ENOSPC does
        full = shutil.disk_usage(written.parent).free < 2**20
        raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device (OpenCV could not write the "
                      "annotated video)" if full else "OpenCV could not write the annotated video (is the disk full?)",
                      str(shown_as))


def plot_video_probabilities(frames_csv: Path, png: Path, classes: list[str], *, max_points: int = 2000,
                             max_faces: int = 4, video: str | None = None) -> Path:
    """Expression probabilities over time, one panel per face id (the ``max_faces`` ids on
    most frames; a CSV without ids is one face), titled with the video's name (``video``; by
    default the name the frames CSV was given after it), the legend beside the axes.

    Long videos are drawn from the means of consecutive frames (at most ``max_points``
    points per line), so memory does not grow with the video's length.
    """
    from gclenet.inference.annotate import CLASS_COLOURS
    from gclenet.inference.linechart import line_chart, stack_charts

    with open(frames_csv, newline="") as handle:
        frames = Counter(row.get("face_id", "") for row in csv.DictReader(handle) if row["label"])
    ids = [face_id for face_id, _ in frames.most_common(max_faces)]
    steps = {face_id: max(1, -(-frames[face_id] // max_points)) for face_id in ids}
    series: dict[str, tuple[list[float], list[np.ndarray]]] = {face_id: ([], []) for face_id in ids}
    windows: dict[str, list[list[float]]] = {face_id: [] for face_id in ids}

    def close_window(face_id: str) -> None:
        if windows[face_id]:
            mean = np.mean(windows[face_id], axis=0)
            series[face_id][0].append(float(mean[0]))
            series[face_id][1].append(mean[1:])
            windows[face_id].clear()

    with open(frames_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            face_id = row.get("face_id", "")
            if row["label"] and face_id in windows:
                windows[face_id].append([float(row["time_s"]), *(float(row[c]) for c in classes)])
                if len(windows[face_id]) == steps[face_id]:
                    close_window(face_id)
    name = video or frames_csv.name.removesuffix(".frames.csv")
    charts = []
    for face_id in ids or [""]:
        times: list[float] = []
        columns: dict[str, list[float]] = {c: [] for c in classes}
        if face_id in series:
            close_window(face_id)
            times, probs = series[face_id]
            columns = {c: [float(p[i]) for p in probs] for i, c in enumerate(classes)}
        step = steps.get(face_id, 1)
        title = f"{name}: expression probabilities" + (f" of face #{face_id}" if face_id else "") + \
            (f" (means of {step} frames)" if step > 1 else "")
        charts.append(line_chart(times, columns, CLASS_COLOURS, title=title, xlabel="time (s)", ylabel="probability",
                                 empty_note="no face in any analysed frame"))
    buffer = io.BytesIO()
    stack_charts(charts).save(buffer, format="PNG")
    atomic_write_bytes(png, lambda handle: handle.write(buffer.getvalue()))
    return png


def require_display() -> None:
    """Raise :class:`WebcamUnavailable` where no window can be shown (Linux without ``$DISPLAY``)."""
    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        raise WebcamUnavailable("the webcam window needs a display (no $DISPLAY); nothing to show")


def run_webcam(recognizer: Recognizer, camera: int = 0, *, detect_every: int = DEFAULT_DETECT_EVERY,
               window: int = DEFAULT_WINDOW, smoothing: str = "mean") -> None:
    """A live window of ``camera`` with each face boxed, numbered and labelled (smoothed over
    ``window`` frames; the detector every ``detect_every`` frames), until q or Esc.

    Raises:
        WebcamUnavailable: no display, the camera cannot be opened, or OpenCV has no GUI.
    """
    cv2 = _cv2()
    require_display()
    capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        raise WebcamUnavailable(f"camera {camera} is not available")
    from gclenet.inference.annotate import annotate

    stream = FaceStream(recognizer, detect_every=detect_every, window=window, smoothing=smoothing)
    index = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            shown = annotate(frame, [face.shown() for face in stream.process([(index, frame)])[0]])
            index += 1
            try:
                cv2.imshow("gclenet (q to quit)", cv2.cvtColor(shown, cv2.COLOR_RGB2BGR))
            except cv2.error:
                raise WebcamUnavailable("this OpenCV build has no GUI; pip install 'opencv-python<5'") from None
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    finally:
        capture.release()
        cv2.destroyAllWindows()
