"""Video and webcam: frames streamed through a :class:`Recognizer` in batches, constant memory.

Per analysed frame, the largest face's label and probabilities go to a CSV written as
the video plays; the annotated video is written frame by frame; only per-class counts
stay in memory. The probability plot is drawn from the CSV at the end. Nothing here
prints: results are returned, and what cannot be done is raised.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from gclenet.fileio import atomic_write_bytes
from gclenet.inference.recognizer import FacePrediction, Recognizer

__all__ = ["analyse_video", "summary_text", "plot_video_probabilities", "run_webcam", "require_display",
           "WebcamUnavailable"]


class WebcamUnavailable(RuntimeError):
    """No display, no such camera, or an OpenCV build without windows: nothing to show."""


def _cv2():
    import cv2

    return cv2


def analyse_video(recognizer: Recognizer, path: Path, *, out: Path | None = None, every: int = 1,
                  batch_size: int = 8, progress: bool = True, stem: str | None = None) -> dict[str, Any]:
    """Analyse every ``every``-th frame of ``path``; returns a summary record.

    With ``out``: ``<stem>.annotated.mp4``, ``<stem>.frames.csv`` (one row per analysed
    frame), ``<stem>.probabilities.png`` (expression probabilities over time) and
    ``<stem>.summary.txt``; ``stem`` defaults to the video's file name without suffix.
    The record counts ``broken_frames``: frames that could not be decoded and were skipped.

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
    writer = rows = csv_handle = None
    tmp_video = tmp_csv = None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        tmp_csv = out / f".{stem}.frames.csv.tmp"
        csv_handle = open(tmp_csv, "w", newline="")
        rows = csv.writer(csv_handle)
        rows.writerow(["frame", "time_s", "faces", "label", *classes])
    counts: Counter[str] = Counter()
    prob_sum = np.zeros(len(classes))  # the largest face's probabilities, summed over frames with a face
    analysed = broken = failed_reads = index = 0
    last_faces: list[FacePrediction] = []
    # Frames wait here in order until the batch of frames to analyse is full; frames
    # between analysed ones are drawn with the latest faces. Capped, so that a large
    # --every cannot hold thousands of frames: then batches are just smaller.
    pending: list[tuple[int, np.ndarray, bool]] = []
    max_pending = 4 * batch_size

    def flush() -> None:
        nonlocal analysed, last_faces
        chosen = [frame for _, frame, analyse in pending if analyse]
        results = iter(recognizer.predict_batch(chosen) if chosen else [])
        for frame_index, frame, analyse in pending:
            if analyse:
                faces = last_faces = next(results)
                analysed += 1
                top = faces[0] if faces else None
                counts[top.label if top else "no face"] += 1
                if top:
                    np.add(prob_sum, [top.probs[c] for c in classes], out=prob_sum)
                if rows is not None:
                    rows.writerow([frame_index, f"{frame_index / fps:.3f}", len(faces), top.label if top else "",
                                   *((f"{top.probs[c]:.5f}" for c in classes) if top else [""] * len(classes))])
            if writer is not None:
                writer.write(cv2.cvtColor(annotate(frame, last_faces, bars=True), cv2.COLOR_RGB2BGR))
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
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
        if csv_handle is not None:
            csv_handle.close()
    if analysed == 0:
        for tmp in (tmp_video, tmp_csv):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        raise ValueError(f"{path}: no frame could be decoded; the video is empty or unreadable")
    summary = {name: counts[name] / analysed for name in [*classes, "no face"] if counts[name]}
    with_face = analysed - counts["no face"]
    mean_probs = {c: float(prob_sum[i] / with_face) for i, c in enumerate(classes)} if with_face else {}
    record: dict[str, Any] = {"file": str(path), "type": "video", "fps": fps, "frames": index,
                              "frames_analysed": analysed, "broken_frames": broken, "summary": summary,
                              "mean_probs": mean_probs}
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


def summary_text(record: dict[str, Any]) -> str:
    """A video record in words: the share of frames in which each expression was the largest
    face's most likely one, and the mean probability of each class over the frames with a face."""
    shares = ", ".join(f"{name} {share:.0%}" for name, share in sorted(record["summary"].items(), key=lambda kv: -kv[1]))
    lines = [f"{record['file']}: {record['frames_analysed']} frames analysed; share of frames by the largest "
             f"face's expression: {shares}"]
    mean_probs = record.get("mean_probs") or {}
    if mean_probs:
        with_face = round(record["frames_analysed"] * (1 - record["summary"].get("no face", 0.0)))
        means = ", ".join(f"{name} {p:.2f}" for name, p in sorted(mean_probs.items(), key=lambda kv: -kv[1]))
        lines.append(f"  mean probability over the {with_face} frame(s) with a face: {means}")
    return "\n".join(lines) + "\n"


def plot_video_probabilities(frames_csv: Path, png: Path, classes: list[str], *, max_points: int = 2000,
                             video: str | None = None) -> Path:
    """Expression probabilities of the largest face over time, titled with the video's name
    (``video``; by default the name the frames CSV was given after it), the legend beside the axes.

    Long videos are drawn from the means of consecutive frames (at most ``max_points``
    points per line), so memory does not grow with the video's length.
    """
    from gclenet.inference.annotate import CLASS_COLOURS
    from gclenet.inference.linechart import line_chart

    with open(frames_csv, newline="") as handle:
        rows = sum(1 for _ in handle) - 1
    step = max(1, -(-rows // max_points))
    times, probs, window = [], [], []

    def close_window() -> None:
        if window:
            mean = np.mean(window, axis=0)
            times.append(float(mean[0]))
            probs.append(mean[1:])
            window.clear()

    with open(frames_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"]:
                window.append([float(row["time_s"]), *(float(row[c]) for c in classes)])
                if len(window) == step:
                    close_window()
    close_window()
    series = np.asarray(probs).reshape(len(probs), len(classes))
    name = video or frames_csv.name.removesuffix(".frames.csv")
    title = f"{name}: expression probabilities of the largest face" + (f" (means of {step} frames)" if step > 1 else "")
    chart = line_chart(times, {c: series[:, i].tolist() for i, c in enumerate(classes)}, CLASS_COLOURS, title=title,
                       xlabel="time (s)", ylabel="probability", empty_note="no face in any analysed frame")
    buffer = io.BytesIO()
    chart.save(buffer, format="PNG")
    atomic_write_bytes(png, lambda handle: handle.write(buffer.getvalue()))
    return png


def require_display() -> None:
    """Raise :class:`WebcamUnavailable` where no window can be shown (Linux without ``$DISPLAY``)."""
    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        raise WebcamUnavailable("the webcam window needs a display (no $DISPLAY); nothing to show")


def run_webcam(recognizer: Recognizer, camera: int = 0) -> None:
    """A live window of ``camera`` with each face boxed and labelled, until q or Esc.

    Raises:
        WebcamUnavailable: no display, the camera cannot be opened, or OpenCV has no GUI.
    """
    cv2 = _cv2()
    require_display()
    capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        raise WebcamUnavailable(f"camera {camera} is not available")
    from gclenet.inference.annotate import annotate

    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            shown = annotate(frame, recognizer.predict(frame))
            try:
                cv2.imshow("gclenet (q to quit)", cv2.cvtColor(shown, cv2.COLOR_RGB2BGR))
            except cv2.error:
                raise WebcamUnavailable("this OpenCV build has no GUI; pip install 'opencv-python<5'") from None
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    finally:
        capture.release()
        cv2.destroyAllWindows()
