"""Grad-CAM of one or more trained models on the same faces (the paper's Fig. 13).

Uses the ``grad-cam`` package on the last residual block (``layer4``); each model sees
the face crop through its own preprocessing (the public :class:`Recognizer` methods:
``crop_faces``, ``preprocess``, ``model``, ``classify``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from gclenet.data.corruptions import Corruption
from gclenet.inference.recognizer import ImageInput, Recognizer

__all__ = ["grad_cam", "cam_figure"]


def grad_cam(recognizer: Recognizer, face: np.ndarray, class_index: int | None = None) -> tuple[np.ndarray, int]:
    """``(heat map in [0, 1] at the crop's size, explained class)`` for an RGB face crop."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = recognizer.model
    batch = recognizer.preprocess([face]).float()
    if class_index is None:
        class_index = int(recognizer.classify([face])[0].argmax())
    with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam, torch.enable_grad():
        heat = cam(input_tensor=batch, targets=[ClassifierOutputTarget(class_index)])[0]
    heat = np.asarray(Image.fromarray((heat * 255).astype(np.uint8)).resize(face.shape[1::-1], Image.BILINEAR))
    return heat / 255.0, class_index


def _overlay(face: np.ndarray, heat: np.ndarray) -> np.ndarray:
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(face.astype(np.float32) / 255.0, heat.astype(np.float32), use_rgb=True)


def cam_figure(image: ImageInput, recognizers: dict[str, Recognizer], out: str | Path,
               corruptions: Sequence[Corruption] = ()) -> Path:
    """Face crop beside each model's Grad-CAM of its own prediction, as one PNG.

    Each corruption adds a row with the same crop corrupted (e.g. eyes occluded), to show
    where the models look when part of the face is gone.
    """
    import torch

    from gclenet.plotting import pyplot, save_figure

    plt = pyplot()
    crops = next(iter(recognizers.values())).crop_faces(image)
    if not crops:
        raise ValueError(f"{image}: no face found (try --detector none for already-cropped faces)")
    face = crops[0]  # the largest, cropped as the first model's recognizer crops it for predict
    rows = [("face", face)]
    for corruption in corruptions:
        corrupted = corruption(torch.from_numpy(face.copy()).permute(2, 0, 1), 0)
        rows.append((corruption.name, corrupted.permute(1, 2, 0).contiguous().numpy()))
    columns = len(recognizers) + 1
    fig, axes = plt.subplots(len(rows), columns, figsize=(3 * columns, 3.3 * len(rows)), squeeze=False)
    for row_axes, (title, crop) in zip(axes, rows):
        row_axes[0].imshow(crop)
        row_axes[0].set_title(f"\n{title}")
        for ax, (name, recognizer) in zip(row_axes[1:], recognizers.items()):
            heat, index = grad_cam(recognizer, crop)
            probs = recognizer.classify([crop])[0]
            ax.imshow(_overlay(crop, heat))
            ax.set_title(f"{name}\n{recognizer.classes[index]} {probs[index]:.0%}")
        for ax in row_axes:
            ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out)
