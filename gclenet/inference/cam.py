"""Grad-CAM of one or more trained models on the same faces (the paper's Fig. 13).

Uses the ``grad-cam`` package on the last residual block (``layer4``); each model sees
the face crop through its own preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from gclenet.inference.recognizer import ImageInput, Recognizer, to_rgb_array

__all__ = ["grad_cam", "cam_figure"]


def grad_cam(recognizer: Recognizer, face: np.ndarray, class_index: int | None = None) -> tuple[np.ndarray, int]:
    """``(heat map in [0, 1] at the crop's size, explained class)`` for an RGB face crop."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = recognizer.backend.model
    batch = recognizer._preprocess([face]).float()
    if class_index is None:
        class_index = int(recognizer.classify([face])[0].argmax())
    with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam, torch.enable_grad():
        heat = cam(input_tensor=batch, targets=[ClassifierOutputTarget(class_index)])[0]
    heat = np.asarray(Image.fromarray((heat * 255).astype(np.uint8)).resize(face.shape[1::-1], Image.BILINEAR))
    return heat / 255.0, class_index


def _overlay(face: np.ndarray, heat: np.ndarray) -> np.ndarray:
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(face.astype(np.float32) / 255.0, heat.astype(np.float32), use_rgb=True)


def cam_figure(image: ImageInput, recognizers: dict[str, Recognizer], out: str | Path) -> Path:
    """Face crop beside each model's Grad-CAM of its own prediction, as one PNG."""
    from gclenet.inference.detection import crop_face
    from gclenet.training.plots import _save, plt

    first = next(iter(recognizers.values()))
    array = to_rgb_array(image)
    faces = first.detector.detect(array)
    if not faces:
        raise ValueError(f"{image}: no face found (try --detector none for already-cropped faces)")
    face = crop_face(array, faces[0], margin=first.margin if first.detector.name != "none" else 0.0,
                     align=first.align)
    fig, axes = plt.subplots(1, len(recognizers) + 1, figsize=(3 * (len(recognizers) + 1), 3.3))
    axes[0].imshow(face)
    axes[0].set_title("face")
    for ax, (name, recognizer) in zip(axes[1:], recognizers.items()):
        heat, index = grad_cam(recognizer, face)
        probs = recognizer.classify([face])[0]
        ax.imshow(_overlay(face, heat))
        ax.set_title(f"{name}: {recognizer.classes[index]} {probs[index]:.0%}")
    for ax in axes:
        ax.axis("off")
    return _save(fig, out)
