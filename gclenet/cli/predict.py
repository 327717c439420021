"""``gclenet predict``, ``demo`` and ``serve``: images, folders, globs, videos, a webcam or a web
page in; labels, JSON (one face record, as the Python and web APIs give), CSV, pictures out."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from gclenet.cli.common import port
from gclenet.data.image_io import ImageLoadError, load_image
from gclenet.fileio import atomic_write_bytes, unique_stem

__all__ = ["add_parsers", "add_predict_parser", "run_predict"]

# Modules that import torch are imported inside the commands: building the parser, which
# every command and every --help does, stays free of torch's ~2 s import; so does
# `predict` where the ONNX Runtime backend is chosen.
DETECTOR_CHOICES = ["mtcnn", "mtcnn-onnx", "mtcnn-torch", "haar", "none"]
DEFAULT_DETECT_EVERY = 5  # = gclenet.inference.stream's (not imported here: the parser stays light)
DEFAULT_WINDOW = 5


def add_parsers(sub: argparse._SubParsersAction) -> None:
    add_predict_parser(sub)
    p = sub.add_parser("demo", help="recognise the expression on an example photo (scikit-image's astronaut)")
    p.add_argument("--out", default="gclenet-demo", help="where the photo and the annotated result go")
    p.add_argument("--weights", default="default", help="shipped weights (default), a .ckpt or .safetensors")
    p.add_argument("--json", action="store_true", help="print the result as JSON, as predict --json does")
    p.set_defaults(func=run_demo)

    p = sub.add_parser("serve", help="web demo (Gradio) with an HTTP API; localhost only unless --host says so")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=7860)
    p.add_argument("--weights", default="default")
    p.add_argument("--detector", choices=DETECTOR_CHOICES, default="mtcnn")
    p.add_argument("--max-file-size", default="5mb", help="upload cap, e.g. 5mb")
    p.set_defaults(func=run_serve)


def add_predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="recognise expressions in images, folders, globs or videos")
    p.add_argument("inputs", nargs="*", help="image files, folders (searched recursively), globs, video files")
    p.add_argument("--weights", default="default", help="shipped weights (default), a .ckpt or .safetensors")
    p.add_argument("--detector", choices=DETECTOR_CHOICES, default="mtcnn",
                   help="face detector: mtcnn (on ONNX Runtime; facenet-pytorch's with --backend torch), "
                        "mtcnn-onnx, mtcnn-torch, haar; 'none' treats each image as one cropped face")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime"], default="auto",
                   help="classifier engine; auto: the fastest measured on this machine (once, then cached; "
                        "`gclenet info` shows the choice)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default="auto",
                   help="auto: what --backend chooses; int8 runs the int8 ONNX model, bf16 PyTorch autocast")
    p.add_argument("--onnx", help="an ONNX model (fp32 or int8) to run (default: those beside the weights)")
    p.add_argument("--device", default="auto")
    p.add_argument("--min-face-size", type=int, default=40,
                   help="skip (and report) smaller faces, in pixels (the model sees 48 px faces)")
    p.add_argument("--tta", action="store_true", help="average with the mirrored face")
    p.add_argument("--batch-size", type=int, default=16, help="images per detection batch")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("--csv", help="write one row per face to this CSV file")
    p.add_argument("--out", help="write annotated images (and video outputs) here")
    p.add_argument("--every", type=int, default=1, help="videos: analyse every Nth frame (the others are drawn "
                   "with the latest faces)")
    p.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="N",
                   help="videos and webcam: run the detector every N frames and follow the faces in between "
                        "(1: detect on every frame)")
    p.add_argument("--smooth", type=int, default=DEFAULT_WINDOW, metavar="N",
                   help="videos and webcam: smooth each face's probabilities over N frames (1: none)")
    p.add_argument("--smoothing", choices=["mean", "ema"], default="mean",
                   help="mean of the last N frames, or an exponential average of the same centre of mass")
    p.add_argument("--webcam", type=int, metavar="N", help="live window on camera N")
    p.set_defaults(func=run_predict)


def run_demo(args: argparse.Namespace) -> int:
    """``gclenet predict`` on a photo that ships with a dependency, so a fresh install can try it at once."""
    from gclenet.inference.sources import write_example_photo

    photo = write_example_photo(args.out)
    annotated = Path(args.out) / "annotated"
    parser = argparse.ArgumentParser(prog="gclenet")
    add_predict_parser(parser.add_subparsers())
    code = run_predict(parser.parse_args(["predict", str(photo), "--weights", args.weights, "--out", str(annotated),
                                          *(["--json"] if args.json else [])]))
    if code == 0:
        print(f"annotated picture: {annotated / photo.with_suffix('.jpg').name}", file=sys.stderr)
    return code


def run_serve(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise RuntimeError("the web demo needs Gradio: pip install gradio") from None
    from gclenet.inference.recognizer import Recognizer
    from gclenet.inference.web import build_app, example_images

    app = build_app(Recognizer(args.weights, detector=args.detector), examples=example_images())
    app.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port,
                                                  max_file_size=args.max_file_size, show_error=True)
    return 0


def shown(text: str) -> str:
    """Text safe to print: undecodable bytes of file names (kept by Python as surrogates) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _warn(message: str) -> None:
    print(f"gclenet predict: {shown(message)}", file=sys.stderr)


def _recognizer(args: argparse.Namespace):  # noqa: ANN202 - a Recognizer, imported with torch on demand
    from gclenet.inference.recognizer import Recognizer

    return Recognizer(args.weights, device=args.device, detector=args.detector, backend=args.backend,
                      precision=args.precision, onnx_path=args.onnx, min_face_size=args.min_face_size, tta=args.tta)


def _tracking(args: argparse.Namespace) -> dict[str, Any]:
    if args.detect_every < 1 or args.smooth < 1:
        raise ValueError("--detect-every and --smooth take a number of frames, at least 1")
    return {"detect_every": args.detect_every, "window": args.smooth, "smoothing": args.smoothing}


def run_predict(args: argparse.Namespace) -> int:
    from gclenet.inference.annotate import annotate
    from gclenet.inference.sources import expand_inputs, is_video

    if args.webcam is not None:
        from gclenet.inference.video import WebcamUnavailable, require_display, run_webcam

        try:
            require_display()  # before loading the model: no window, nothing to do
            run_webcam(_recognizer(args), args.webcam, **_tracking(args))
        except WebcamUnavailable as err:
            _warn(str(err))
        return 0
    if not args.inputs:
        _warn("no input: name image files, folders, globs or videos (or --webcam N)")
        return 2
    tracking = _tracking(args)
    files, problems = expand_inputs(args.inputs)
    for line in problems:
        _warn(line)
    if not files:
        return 1
    recognizer = _recognizer(args)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    failures = 0
    image_stems: set[str] = set()
    images = [f for f in files if not is_video(f)]
    videos = [f for f in files if is_video(f)]
    progress = tqdm(total=len(images), desc="images", unit="img", disable=len(images) < 2, file=sys.stderr)
    for start in range(0, len(images), args.batch_size):
        batch, arrays = [], []
        for path in images[start : start + args.batch_size]:
            try:
                arrays.append(np.asarray(load_image(path, "RGB")))
                batch.append(path)
            except ImageLoadError as err:
                _warn(str(err))
                failures += 1
        progress.update(args.batch_size if start + args.batch_size <= len(images) else len(images) - start)
        if not batch:
            continue
        for path, array, faces in zip(batch, arrays, recognizer.predict_batch(arrays)):
            if not faces:
                _warn(f"{path}: no face found (try --detector none for already-cropped faces)")
            records.append({"file": str(path), "faces": [face.to_dict() for face in faces]})
            if out:
                target = out / f"{unique_stem(path.stem, image_stems)}.jpg"
                buffer = io.BytesIO()
                Image.fromarray(annotate(array, faces)).save(buffer, format="JPEG", quality=92)
                atomic_write_bytes(target, lambda handle, data=buffer.getvalue(): handle.write(data))
        if recognizer.skipped_small:
            _warn(f"skipped {recognizer.skipped_small} face(s) smaller than {args.min_face_size} px")
    progress.close()
    video_stems: set[str] = set()
    for path in videos:
        from gclenet.inference.video import analyse_video, summary_text

        try:
            record = analyse_video(recognizer, path, out=out, every=args.every,
                                   stem=unique_stem(path.stem, video_stems), **tracking)
        except (OSError, ValueError) as err:
            _warn(str(err))
            failures += 1
            continue
        records.append(record)
        print(shown(summary_text(record)), file=sys.stderr)
        if record["broken_frames"]:
            _warn(f"{path}: {record['broken_frames']} broken frame(s) skipped")
    if args.csv:
        _write_csv(Path(args.csv), [r for r in records if r.get("type") != "video"], recognizer.classes)
        if videos:
            _warn("--csv lists the faces of images; a video's per-frame rows go to <stem>.frames.csv under --out")
    if args.json:
        print(json.dumps(records, indent=2))
    else:  # videos have printed their summaries to stderr
        for record in records:
            if record.get("type") != "video":
                labels = ", ".join(f"{f['label']} ({f['probs'][f['label']]:.0%})" for f in record["faces"]) or "no face"
                print(shown(f"{record['file']}: {labels}"))
    return 0 if records else 1


def _write_csv(path: Path, records: list[dict[str, Any]], classes: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "face", "x1", "y1", "x2", "y2", "score", "label", *classes])
    for record in records:
        for i, face in enumerate(record["faces"]):
            writer.writerow([record["file"], i, *face["box"], face["score"], face["label"],
                             *(f"{face['probs'][c]:.5f}" for c in classes)])
    # surrogateescape: a file name that is not valid UTF-8 is written back as the bytes it was
    atomic_write_bytes(path, lambda handle: handle.write(buffer.getvalue().encode("utf-8", "surrogateescape")))
