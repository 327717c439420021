"""``gclenet serve``: a Gradio page (upload or webcam) and its HTTP API, on localhost by default."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from gclenet.data.image_io import ImageLoadError, load_image
from gclenet.inference.annotate import annotate
from gclenet.inference.recognizer import Recognizer
from gclenet.inference.sources import write_example_photo

__all__ = ["build_app", "analyse_upload", "example_images"]

log = logging.getLogger(__name__)


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
            return analyse_upload(recognizer, path)
        except ValueError as err:
            raise _rejected(gr.Error, Path(path).name if path else "(nothing)", str(err)) from None

    with gr.Blocks(title="gclenet: facial expression recognition") as app:
        gr.Markdown("## gclenet: facial expression recognition\nUpload a photo or use the webcam; every face "
                    "found is boxed and labelled (GCLENet, " + ", ".join(recognizer.classes) + ").")
        with gr.Row():
            # image_mode=None: Gradio hands over the uploaded file as it is; with a mode it would
            # decode and convert it first, unguarded, before our decompression-bomb check.
            upload = gr.Image(sources=["upload", "webcam"], type="filepath", image_mode=None, label="photo")
            upload.preprocess = _readable_errors(upload.preprocess, gr.Error)
            shown = gr.Image(type="numpy", label="faces", elem_id="annotated")
        button = gr.Button("Recognise", variant="primary", elem_id="recognise")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            chart = gr.Label(num_top_classes=len(recognizer.classes), label="largest face", elem_id="probabilities")
            details = gr.JSON(label="all faces (JSON)")
        button.click(run, upload, [shown, chart, details, status], api_name="predict")
        if examples:
            gr.Examples(examples, upload)
    return app
