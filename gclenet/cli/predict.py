"""``gclenet predict``, ``demo`` and ``serve``: images, folders, globs, videos, a webcam or a web
page in; labels, JSON (one face record, as the Python and web APIs give), CSV, pictures out."""

from __future__ import annotations

import argparse
import csv
import errno
import io
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from gclenet.cli.common import add_command, folder, port
from gclenet.cli.scale import add_scale_arguments, check_scale_arguments, run_predict_ray
from gclenet.data.image_io import ImageLoadError, load_image
from gclenet.fileio import atomic_write_bytes
from gclenet.inference.backends import BACKENDS, PRECISIONS
from gclenet.inference.detection import DETECTORS

__all__ = ["add_parsers", "add_predict_parser", "run_predict"]

# Modules that import torch are imported inside the commands: building the parser, which
# every command and every --help does, stays free of torch's ~2 s import; so does
# `predict` where the ONNX Runtime backend is chosen.
DEFAULT_DETECT_EVERY = 5  # = gclenet.inference.stream's (not imported here: the parser stays light)
DEFAULT_WINDOW = 5
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    add_predict_parser(sub)
    p = sub.add_parser("demo", help="recognise the expression on the example photo that ships with gclenet")
    p.add_argument("--out", type=folder, default="gclenet-demo", help="where the photo and the annotated result go")
    p.add_argument("--weights", default="default", help="shipped weights (default), a .ckpt or .safetensors")
    p.add_argument("--json", action="store_true", help="print the result as JSON, as predict --json does")
    p.set_defaults(func=run_demo)

    p = add_command(sub, "serve", "web demo (Gradio) with an HTTP API; localhost only unless --host says so",
                    extra="demo")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind; any but a loopback one needs --auth or --auth-file")
    p.add_argument("--port", type=port, default=7860)
    p.add_argument("--weights", default="default")
    p.add_argument("--detector", choices=DETECTORS, default="mtcnn")
    p.add_argument("--max-file-size", default="5mb", help="upload cap, e.g. 5mb")
    p.add_argument("--auth", action="append", type=credentials, metavar="USER:PASSWORD",
                   help="require this login for the page and the API (repeatable; other users of this machine "
                        "can read a command line: --auth-file keeps the password out of it)")
    p.add_argument("--auth-file", help="a file of USER:PASSWORD lines (# comments), each a login that is let in")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve a non-loopback --host without a login: anyone who reaches it can use it")
    p.set_defaults(func=run_serve)


def credentials(text: str) -> tuple[str, str]:
    """``USER:PASSWORD`` (the password may hold colons) as Gradio's ``(user, password)``."""
    user, colon, password = text.partition(":")
    if not (colon and user.strip() and password):
        raise argparse.ArgumentTypeError("a login is USER:PASSWORD, both non-empty")
    return user.strip(), password  # Gradio strips the user name it is given at the login


def read_auth_file(path: str | Path) -> list[tuple[str, str]]:
    """The logins of an ``--auth-file``: one ``USER:PASSWORD`` per line; blank and ``#`` lines skipped.

    Raises:
        ValueError: the file cannot be read, a line is not a login, or it holds none (one line, naming it).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"--auth-file {path}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
    logins = []
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                logins.append(credentials(line))
            except argparse.ArgumentTypeError:
                raise ValueError(f"--auth-file {path}, line {number}: not USER:PASSWORD") from None
    if not logins:
        raise ValueError(f"--auth-file {path}: no USER:PASSWORD line in it")
    return logins


def is_loopback(host: str) -> bool:
    """Only this machine can reach ``host`` (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def serve_logins(args: argparse.Namespace) -> list[tuple[str, str]] | None:
    """The logins ``serve`` requires, or None for an open server.

    Raises:
        ValueError: a non-loopback host without a login or ``--insecure-no-auth``; a bad ``--auth-file``.
    """
    logins = list(args.auth or []) + (read_auth_file(args.auth_file) if args.auth_file else [])
    if not logins and not args.insecure_no_auth and not is_loopback(args.host):
        raise ValueError(f"--host {args.host} would let anyone on the network use the server: give --auth "
                         "USER:PASSWORD or --auth-file FILE (or --insecure-no-auth to serve it open)")
    return logins or None


def add_predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="recognise expressions in images, folders, globs or videos")
    p.add_argument("inputs", nargs="*", help="image files, folders (searched recursively), globs, video files")
    p.add_argument("--weights", default="default", help="shipped weights (default), a .ckpt or .safetensors")
    p.add_argument("--detector", choices=DETECTORS, default="mtcnn",
                   help="face detector: mtcnn (on ONNX Runtime; facenet-pytorch's with --backend torch), "
                        "mtcnn-onnx, mtcnn-torch, haar; 'none' treats each image as one cropped face")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="classifier engine; auto: the fastest measured on this machine (once, then cached; "
                        "`gclenet info` shows the choice)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: what --backend chooses; int8 runs the int8 ONNX model, bf16 PyTorch autocast")
    p.add_argument("--onnx", help="an ONNX model (fp32 or int8) to run (default: those beside the weights)")
    p.add_argument("--device", default="auto")
    p.add_argument("--min-face-size", type=int, default=40,
                   help="skip (and report) faces whose box, as drawn and in --json, has a shorter side under "
                        "this many pixels (the model sees 48 px faces)")
    p.add_argument("--tta", action="store_true", help="average with the mirrored face")
    p.add_argument("--balance", type=float, default=0.0, metavar="B",
                   help="favour rarer expressions: 0 answers as trained (best accuracy), 1 as if every class "
                        "were equally common (best mean class accuracy); docs/BENCHMARKS.md has the curve")
    p.add_argument("--batch-size", type=int, default=16, help="images per detection batch")
    p.add_argument("--json", action="store_true", help="print one record per input as JSON on stdout (its faces, "
                   "or the error that kept it from being read)")
    p.add_argument("--csv", help="write one row per face to this CSV file (one row with an error, or none found, "
                   "for an image without faces)")
    p.add_argument("--out", type=folder,
                   help="write annotated images (and video outputs) here, under the inputs' relative paths")
    p.add_argument("--every", type=int, default=1, help="videos: analyse every Nth frame")
    p.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="N",
                   help="videos and webcam: run the detector every N frames and follow the faces in between "
                        "(1: detect on every frame)")
    p.add_argument("--smooth", type=int, default=DEFAULT_WINDOW, metavar="N",
                   help="videos and webcam: smooth each face's probabilities over N frames (1: none)")
    p.add_argument("--smoothing", choices=["mean", "ema"], default="mean",
                   help="mean of the last N frames, or an exponential average of the same centre of mass")
    p.add_argument("--webcam", type=int, metavar="N", help="live window on camera N")
    add_scale_arguments(p)
    p.set_defaults(func=run_predict)


def run_demo(args: argparse.Namespace) -> int:
    """``gclenet predict`` on the photo that ships in the package, so a fresh install can try it at once."""
    from gclenet.inference.sources import write_example_photo

    photo = write_example_photo(args.out)
    annotated = Path(args.out) / "annotated"
    parser = argparse.ArgumentParser(prog="gclenet")
    add_predict_parser(parser.add_subparsers())
    code = run_predict(parser.parse_args(["predict", str(photo), "--weights", args.weights, "--out", str(annotated),
                                          *(["--json"] if args.json else [])]))
    if code == 0:
        print(f"annotated picture: {annotated / photo.name}", file=sys.stderr)
    return code


def run_serve(args: argparse.Namespace) -> int:
    logins = serve_logins(args)  # before anything is loaded: a refused server starts nothing
    import gradio  # noqa: F401  (first: without the [demo] extra, stop before loading the model)

    from gclenet.inference.recognizer import Recognizer
    from gclenet.inference.web import build_app, example_images

    app = build_app(Recognizer(args.weights, detector=args.detector), examples=example_images())
    # Gradio's own login: the page and every API route (uploads, files, predictions) need its cookie.
    app.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port, auth=logins,
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
                      precision=args.precision, onnx_path=args.onnx, min_face_size=args.min_face_size, tta=args.tta,
                      balance=args.balance)


def _tracking(args: argparse.Namespace) -> dict[str, Any]:
    if args.detect_every < 1 or args.smooth < 1:
        raise ValueError("--detect-every and --smooth take a number of frames, at least 1")
    return {"detect_every": args.detect_every, "window": args.smooth, "smoothing": args.smoothing}


def run_predict(args: argparse.Namespace) -> int:
    """Every input ends as one record: its faces, a video's summary, or ``{"file", "error"}``."""
    from gclenet.inference.outputs import mirrored_paths
    from gclenet.inference.sources import expand_each, is_video, read_input_list

    check_scale_arguments(args)  # before anything is loaded
    if args.inputs_from:
        args.inputs = [*args.inputs, *read_input_list(args.inputs_from, args.column)]
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
    _tracking(args)  # a bad --detect-every or --smooth is refused before any work
    expanded = expand_each(args.inputs)
    files = [file for _, found, _ in expanded for file in found]
    for item, _, reason in expanded:
        if reason is not None:
            _warn(f"{item}: {reason}")
    if args.runner == "ray":  # a missing file named goes too: its error is a row of the results, as in --json
        missing = [Path(item) for item, found, reason in expanded
                   if reason is not None and not Path(item).is_dir() and not any(ch in item for ch in "*?[")]
        return run_predict_ray(args, files + missing) if files or missing else 1
    classes: list[str] = []
    of_file: dict[Path, dict[str, Any]] = {}
    if files:
        recognizer = _recognizer(args)
        classes = recognizer.classes
        out = Path(args.out) if args.out else None
        relative = mirrored_paths(args.inputs, files) if out else {}
        images = [f for f in files if not is_video(f)]
        videos = [f for f in files if is_video(f)]
        of_file.update(zip(images, _predict_images(recognizer, images, args, out, relative)))
        of_file.update(zip(videos, _predict_videos(recognizer, videos, args, out, relative)))
    records: list[dict[str, Any]] = []  # in the order of the inputs, each input's problem in its place
    for item, found, reason in expanded:
        records += [{"file": item, "error": reason}] if reason is not None else [of_file[f] for f in found]
    if args.csv:
        _write_csv(Path(args.csv), [r for r in records if r.get("type") != "video"], classes)
        if any(r.get("type") == "video" for r in records):
            _warn("--csv lists the faces of images; a video's per-frame rows go to <stem>.frames.csv under --out")
    if args.json:
        print(json.dumps(records, indent=2))
    else:  # videos have printed their summaries to stderr, failures their reasons
        for record in records:
            if "faces" in record and record.get("type") != "video":  # videos printed their summaries
                labels = ", ".join(f"{f['label']} ({f['probs'][f['label']]:.0%})" for f in record["faces"]) or "no face"
                print(shown(f"{record['file']}: {labels}"))
    return 0 if any("error" not in r for r in records) else 1


def _predict_images(recognizer, images: list[Path], args: argparse.Namespace, out: Path | None,  # noqa: ANN001
                    relative: dict[Path, Path]) -> list[dict[str, Any]]:
    """One record per image, in order; annotated copies under ``out`` at the images' relative paths."""
    from gclenet.inference.annotate import annotate
    from gclenet.inference.outputs import annotated_image_path

    records: list[dict[str, Any]] = []
    progress = tqdm(total=len(images), desc="images", unit="img", disable=len(images) < 2, file=sys.stderr)
    for start in range(0, len(images), args.batch_size):
        chunk = images[start : start + args.batch_size]
        decoded: dict[Path, np.ndarray] = {}
        errors: dict[Path, str] = {}
        for path in chunk:
            try:
                decoded[path] = np.asarray(load_image(path, "RGB"))
            except ImageLoadError as err:
                _warn(str(err))
                errors[path] = err.reason
        progress.update(len(chunk))
        faces_of = dict(zip(decoded, recognizer.predict_batch(list(decoded.values())))) if decoded else {}
        for path in chunk:  # the inputs' order, failures in their place
            if path in errors:
                records.append({"file": str(path), "error": errors[path]})
                continue
            faces = faces_of[path]
            if not faces:
                _warn(f"{path}: no face found (try --detector none for already-cropped faces)")
            records.append(faces.to_record(str(path)))
            if out:
                target, image_format = annotated_image_path(relative[path])
                buffer = io.BytesIO()
                Image.fromarray(annotate(decoded[path], faces)).save(
                    buffer, format=image_format, **({"quality": 92} if image_format in ("JPEG", "WEBP") else {}))
                try:
                    atomic_write_bytes(out / target, lambda handle, data=buffer.getvalue(): handle.write(data))
                except OSError:  # a full disk: the run stops; its one line must not be the bar's tail
                    progress.close()
                    raise
        skipped = sum(faces.skipped_small for faces in faces_of.values())
        if skipped:
            _warn(f"skipped {skipped} face(s) whose box's shorter side is under {args.min_face_size} px "
                  "(--min-face-size)")
    progress.close()
    return records


def _predict_videos(recognizer, videos: list[Path], args: argparse.Namespace, out: Path | None,  # noqa: ANN001
                    relative: dict[Path, Path]) -> list[dict[str, Any]]:
    """One record per video; its outputs under ``out``, beside where the video is in the input tree."""
    from gclenet.inference.outputs import output_prefixes
    from gclenet.inference.video import analyse_video
    from gclenet.inference.video_record import summary_text

    prefixes = output_prefixes([relative[v] for v in videos]) if out else {}
    records: list[dict[str, Any]] = []
    for path in videos:
        prefix = prefixes.get(relative.get(path))
        try:
            record = analyse_video(recognizer, path, out=out / prefix.parent if out else None, every=args.every,
                                   stem=prefix.name if prefix else None, **_tracking(args))
        except (OSError, ValueError) as err:
            if isinstance(err, OSError) and err.errno in DISK_FULL:
                raise  # every output after it would fail too: the run stops, naming the file
            _warn(str(err))
            records.append({"file": str(path), "type": "video", "error": str(err).removeprefix(f"{path}: ")})
            continue
        records.append(record.to_dict())
        print(shown(summary_text(record)), file=sys.stderr)
        if record.broken_frames:
            _warn(f"{path}: {record.broken_frames} broken frame(s) skipped")
    return records


def _write_csv(path: Path, records: list[dict[str, Any]], classes: list[str]) -> None:
    """A row per face; an image without faces, or one that could not be read, is one row too
    (no face index; ``error`` says why, when it is an error)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "face", "x1", "y1", "x2", "y2", "score", "label", *classes, "error"])
    blank = [""] * (7 + len(classes))
    for record in records:
        for i, face in enumerate(record.get("faces", [])):
            writer.writerow([record["file"], i, *face["box"], face["score"], face["label"],
                             *(f"{face['probs'][c]:.5f}" for c in classes), ""])
        if not record.get("faces"):
            writer.writerow([record["file"], *blank, record.get("error", "")])
    # surrogateescape: a file name that is not valid UTF-8 is written back as the bytes it was
    atomic_write_bytes(path, lambda handle: handle.write(buffer.getvalue().encode("utf-8", "surrogateescape")))
