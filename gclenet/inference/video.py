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
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from gclenet.fileio import atomic_write_bytes, named_os_error
from gclenet.inference.detection import box_size
from gclenet.inference.recognizer import Recognizer
from gclenet.inference.stream import DEFAULT_DETECT_EVERY, DEFAULT_WINDOW, FaceStream, TrackedFace

__all__ = ["analyse_video", "summary_text", "plot_video_probabilities", "run_webcam", "require_display",
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


def analyse_video(recognizer: Recognizer, path: Path, *, out: Path | None = None, every: int = 1,
                  detect_every: int = DEFAULT_DETECT_EVERY, window: int = DEFAULT_WINDOW, smoothing: str = "mean",
                  batch_size: int = 8, progress: bool = True, stem: str | None = None) -> dict[str, Any]:
    """Analyse every ``every``-th frame of ``path``, following faces between detector runs;
    returns a summary record.

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
        ValueError: the file cannot be opened as a video.
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
    every = max(1, every)
    stem = stem or path.stem
    classes = recognizer.classes
    stream = FaceStream(recognizer, detect_every=detect_every, window=window, smoothing=smoothing)
    writer = rows = csv_handle = None
    tmp_video = tmp_csv = None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        tmp_csv = out / f".{stem}.frames.csv.tmp"
        csv_handle = open(tmp_csv, "w", newline="")
        rows = csv.writer(csv_handle)
        rows.writerow([*CSV_COLUMNS, *classes, "smoothed_label"])
    counts: Counter[str] = Counter()
    prob_sum = np.zeros(len(classes))  # the largest face's probabilities, summed over frames with a face
    analysed = broken = failed_reads = index = 0
    last_faces: list[TrackedFace] = []
    # Frames wait here in order until the batch of frames to analyse is full; frames
    # between analysed ones are drawn with the latest faces. Capped, so that a large
    # --every cannot hold thousands of frames: then batches are just smaller.
    pending: list[tuple[int, np.ndarray, bool]] = []
    max_pending = 4 * batch_size

    def flush() -> None:
        nonlocal analysed, last_faces
        results = iter(stream.process([(i, frame) for i, frame, analyse in pending if analyse]))
        for frame_index, frame, analyse in pending:
            if analyse:
                faces = last_faces = next(results)
                analysed += 1
                top = max(faces, key=lambda f: box_size(f.box), default=None)  # as detectors order faces
                counts[top.smoothed_label if top else "no face"] += 1
                if top:
                    np.add(prob_sum, [top.probs[c] for c in classes], out=prob_sum)
                if rows is not None:
                    rows.writerows(_rows(frame_index, fps, faces, classes))
            if writer is not None:
                writer.write(cv2.cvtColor(annotate(frame, [f.shown() for f in last_faces], bars=True),
                                          cv2.COLOR_RGB2BGR))
        pending.clear()

    from gclenet.inference.annotate import annotate

    bar = tqdm(total=total, desc=path.name, unit="frame", disable=not progress, file=sys.stderr)
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                # Maybe a broken frame (skip it, go on), maybe the end: containers often
                # announce more frames than they hold. Only a later good frame tells.
                if total and index < total - 1 and failed_reads < 25:
                    failed_reads += 1
                    index += 1
                    continue
                index -= failed_reads
                break
            broken, failed_reads = broken + failed_reads, 0
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if out and writer is None:
                tmp_video = out / f".{stem}.annotated.mp4.tmp.mp4"
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            analyse = index % every == 0
            if analyse or writer is not None:  # unanalysed frames are kept only to be drawn
                pending.append((index, frame, analyse))
            if sum(a for _, _, a in pending) >= batch_size or len(pending) >= max_pending:
                flush()
            index += 1
            bar.update(1)
        flush()
        if csv_handle is not None:
            csv_handle.close()  # its buffer's last write: a full disk shows here at the latest
        if writer is not None:
            writer.release()
            _check_video(cv2, tmp_video, out / f"{stem}.annotated.mp4")
    except BaseException as err:  # a full disk, a kill, a bug: no half-written output stays behind
        _discard(tmp_video, tmp_csv)
        if isinstance(err, OSError) and out is not None:
            raise named_os_error(err, out / f"{stem}.frames.csv") from err
        raise
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
        if csv_handle is not None:
            with contextlib.suppress(OSError):  # closed above, or failing: the error is already on its way
                csv_handle.close()
    if analysed == 0:
        _discard(tmp_video, tmp_csv)
        raise ValueError(f"{path}: no frame could be decoded; the video is empty or unreadable")
    summary = {name: counts[name] / analysed for name in [*classes, "no face"] if counts[name]}
    with_face = analysed - counts["no face"]
    mean_probs = {c: float(prob_sum[i] / with_face) for i, c in enumerate(classes)} if with_face else {}
    record: dict[str, Any] = {"file": str(path), "type": "video", "fps": fps, "frames": index,
                              "frames_analysed": analysed, "broken_frames": broken, "summary": summary,
                              "frames_with_face": with_face, "mean_probs": mean_probs, "faces": [s.to_dict(classes) for s in stream.summaries()],
                              "detect_every": detect_every, "window": window, "skipped_small": stream.skipped_small}
    if out:
        os.replace(tmp_csv, out / f"{stem}.frames.csv")
        if tmp_video is not None:
            os.replace(tmp_video, out / f"{stem}.annotated.mp4")
        plot_video_probabilities(out / f"{stem}.frames.csv", out / f"{stem}.probabilities.png", classes, video=path.name)
        record["outputs"] = [str(out / f"{stem}.{s}") for s in ("annotated.mp4", "frames.csv", "probabilities.png",
                                                                "summary.txt")]
        text = summary_text(record).encode("utf-8", "surrogateescape")
        atomic_write_bytes(out / f"{stem}.summary.txt", lambda handle: handle.write(text))
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


def summary_text(record: dict[str, Any]) -> str:
    """A video record in words: the share of frames in which each expression was the largest
    face's (smoothed) answer, the mean probability of each class over the frames with a face,
    then a line per face id."""
    def shares(items: dict[str, float]) -> str:
        return ", ".join(f"{name} {share:.0%}" for name, share in sorted(items.items(), key=lambda kv: -kv[1]))

    lines = [f"{record['file']}: {record['frames_analysed']} frames analysed; share of frames by the largest "
             f"face's expression: {shares(record['summary'])}"]
    mean_probs = record.get("mean_probs") or {}
    if mean_probs:
        means = ", ".join(f"{name} {p:.2f}" for name, p in sorted(mean_probs.items(), key=lambda kv: -kv[1]))
        lines.append(f"  mean probability over the {record['frames_with_face']} frame(s) with a face: {means}")
    for face in record.get("faces", []):
        lines.append(f"  face #{face['id']}: frames {face['first_frame']}-{face['last_frame']} ({face['frames']} "
                     f"analysed, {face['detections']} detected); share of frames: {shares(face['label_shares'])}")
    return "\n".join(lines) + "\n"


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
