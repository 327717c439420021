"""``gclenet serve``: a Gradio page (upload or webcam) and its HTTP API, on localhost by default."""

from __future__ import annotations

import io
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gclenet.data.image_io import ImageLoadError, load_image
from gclenet.fileio import atomic_write_bytes
from gclenet.inference.annotate import annotate
from gclenet.inference.recognizer import Recognizer
from gclenet.inference.sources import write_example_photo

__all__ = ["build_app", "analyse_upload", "example_images", "save_shown_image"]

log = logging.getLogger(__name__)
# Gradio deletes the files a page has served (uploads and our annotated pictures) once they
# are this old, checked this often (seconds): a long-running server's cache stays bounded,
# and a client has long fetched its picture before it goes.
CACHE_CHECK_S, CACHE_AGE_S = 600, 3600


def example_images() -> list[str]:
    """The example photo (the astronaut), copied to a temp folder: Gradio serves files from there."""
    return [str(write_example_photo(tempfile.mkdtemp(prefix="gclenet-examples-")))]


def analyse_upload(recognizer: Recognizer, path: str | None) -> tuple[np.ndarray, dict[str, float], dict[str, Any], str]:
    """``(annotated image, probabilities of the largest face, all faces, status line)``.

    Raises:
        ValueError: nothing uploaded, or the file is not a readable image (one line).
    """
    if not path:
        raise ValueError("Upload a photo (or take one with the webcam) first.")
    try:
        image = np.asarray(load_image(path, "RGB"))
    except ImageLoadError as err:
        raise ValueError(f"That file is not a readable image ({err.reason}).") from None
    faces = recognizer.predict(image)
    annotated = annotate(image, faces)
    if not faces:
        return annotated, {}, {"faces": []}, "No face found: try a larger, frontal, well-lit face."
    summary = ", ".join(f"{f.label} ({f.confidence:.0%})" for f in faces)
    return annotated, dict(faces[0].probs), {"faces": [f.to_dict() for f in faces]}, f"{len(faces)} face(s): {summary}"


def save_shown_image(image: np.ndarray, cache_dir: str | Path) -> str:
    """Write ``image`` as a WEBP file of its own under Gradio's cache folder; returns its path.

    Not handed to Gradio as an array: Gradio names an array's file by a hash of its pixels and
    rewrites it in place, so two requests with the same picture shared one file that was being
    rewritten while another response streamed it (a truncated or over-long download). A file
    already in the cache folder is served as it is, and this one is never written again.
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="WEBP")
    path = Path(cache_dir) / f"gclenet-{uuid.uuid4().hex}" / "annotated.webp"
    atomic_write_bytes(path, lambda handle: handle.write(buffer.getvalue()))
    return str(path)


def _rejected(error_type, name: str, message: str):  # noqa: ANN001, ANN202 - gr.Error, passed in
    """The error the page shows for a rejected upload, and one line in the server's log: Gradio
    would print a traceback for every corrupt file a user uploads, which is no fault of the server."""
    log.warning("rejected upload %s: %s", name, message)
    try:
        return error_type(message, print_exception=False)
    except TypeError:  # a Gradio without print_exception (before 5.x): it prints its traceback
        return error_type(message)


def _readable_errors(preprocess, error_type):  # noqa: ANN001, ANN202 - Gradio's callables
    """Gradio decodes uploads itself before our code runs; turn its failures into one readable line.

    (Patched on the instance: a subclass would be a custom component the page cannot draw.)
    """

    def wrapped(payload):  # noqa: ANN001, ANN202
        try:
            return preprocess(payload)
        except Exception:
            name = getattr(payload, "orig_name", None) or "the upload"
            raise _rejected(error_type, name, f"{name} is not a readable image; upload a JPEG or PNG photo.") from None

    return wrapped


def build_app(recognizer: Recognizer, *, examples: list[str] | None = None):
    import gradio as gr

    def run(path: str | None):
        try:
            annotated, *rest = analyse_upload(recognizer, path)
        except ValueError as err:
            raise _rejected(gr.Error, Path(path).name if path else "(nothing)", str(err)) from None
        return save_shown_image(annotated, shown.GRADIO_CACHE), *rest

    with gr.Blocks(title="gclenet: facial expression recognition", delete_cache=(CACHE_CHECK_S, CACHE_AGE_S)) as app:
        gr.Markdown("## gclenet: facial expression recognition\nUpload a photo or use the webcam; every face "
                    "found is boxed and labelled (GCLENet, " + ", ".join(recognizer.classes) + ").")
        with gr.Row():
            # image_mode=None: Gradio hands over the uploaded file as it is; with a mode it would
            # decode and convert it first, unguarded, before our decompression-bomb check.
            upload = gr.Image(sources=["upload", "webcam"], type="filepath", image_mode=None, label="photo")
            upload.preprocess = _readable_errors(upload.preprocess, gr.Error)
            shown = gr.Image(type="filepath", label="faces", elem_id="annotated")  # see save_shown_image
        button = gr.Button("Recognise", variant="primary", elem_id="recognise")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            chart = gr.Label(num_top_classes=len(recognizer.classes), label="largest face", elem_id="probabilities")
            details = gr.JSON(label="all faces (JSON)")
        button.click(run, upload, [shown, chart, details, status], api_name="predict")
        if examples:
            gr.Examples(examples, upload)
    return app
