"""Evaluation of a trained model on a data set split: the paper's kind of evidence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)
from tqdm import tqdm

from gclenet.data import FERDataset, get_dataset_spec
from gclenet.models.weights import WeightsInfo, load
from gclenet.training.splits import (
    EvaluationSplit,
    check_overlap,
    evaluation_samples,
    evaluation_split,
    training_overlap,
)

__all__ = ["predict_dataset", "predict_checkpoint", "classification_report", "evaluate_checkpoint"]


@torch.inference_mode()
def predict_dataset(model: nn.Module, dataset: FERDataset, *, batch_size: int = 128, tta: str | None = None,
                    progress: bool = True, precision: str = "fp32") -> tuple[Tensor, Tensor]:
    """Class probabilities ``(N, classes)`` and labels ``(N,)`` of every sample.

    ``tta="flip"`` averages the probabilities of each image and its mirror image;
    ``precision="bf16"`` runs the model under bf16 autocast (to measure what it costs).
    """
    if tta not in (None, "none", "flip"):
        raise ValueError(f"tta must be 'flip' or None, got {tta!r}")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    device_type = next(model.parameters()).device.type
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    probs, labels = [], []
    for images, target in tqdm(loader, desc="evaluate", disable=not progress, unit="batch"):
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type, torch.bfloat16, enabled=precision == "bf16"):
            p = model(images).float().softmax(dim=1)
            if tta == "flip":
                p = (p + model(images.flip(3)).float().softmax(dim=1)) / 2
        probs.append(p.float())
        labels.append(target)
    return torch.cat(probs), torch.cat(labels)


def classification_report(probs: Tensor, labels: Tensor, classes: list[str]) -> dict[str, Any]:
    """Accuracy, mean class accuracy, macro F1, per-class P/R/F1 and the confusion matrix."""
    n = len(classes)
    preds = probs.argmax(dim=1)
    confusion = multiclass_confusion_matrix(preds, labels, n)
    row_sums = confusion.sum(dim=1, keepdim=True).clamp(min=1)
    recall = multiclass_recall(preds, labels, n, average=None)
    per_class = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(
            classes,
            multiclass_precision(preds, labels, n, average=None),
            recall,
            multiclass_f1_score(preds, labels, n, average=None),
            confusion.sum(dim=1),
        )
    }
    return {
        "samples": int(labels.numel()),
        "accuracy": float(multiclass_accuracy(preds, labels, n, average="micro")),
        # over the classes the split has: a class with no images (contempt on FER2013) that
        # the model predicts now and then is not a class it got 0 % of
        "mean_class_accuracy": float(recall[confusion.sum(dim=1) > 0].mean()),
        "macro_f1": float(multiclass_f1_score(preds, labels, n, average="macro")),
        "per_class": per_class,
        "classes": list(classes),
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_normalized": (confusion / row_sums).tolist(),
    }


def evaluate_checkpoint(
    checkpoint: str | Path, dataset: str | None = None, root: str | Path | None = None, *, split: str | None = None,
    tta: str | None = None, batch_size: int = 128, options: dict[str, Any] | None = None, progress: bool = True,
    precision: str = "fp32", allow_overlap: bool = False,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` (a run's .ckpt or exported weights) on ``dataset``'s ``split``.

    What is not given is taken from the data options the weights were trained with (see
    :func:`gclenet.training.splits.evaluation_split`). A split that shares images with the
    training set is refused, or with ``allow_overlap`` scored and the overlap reported.

    Raises:
        ValueError: the split overlaps the training set (and ``allow_overlap`` is off), or
            no data set is given and none recorded.
    """
    prepared, probs, labels = _run(checkpoint, dataset, root, split, options, allow_overlap, tta=tta,
                                   batch_size=batch_size, progress=progress, precision=precision)
    where, data = prepared.where, prepared.data
    report = classification_report(probs, labels, list(prepared.info.classes))
    report.update(checkpoint=str(checkpoint), dataset=where.dataset, root=where.root, split=where.split,
                  held_out=where.held_out, evaluated_on=where.describe(), options=where.options, tta=tta or "none",
                  precision=precision, skipped=data.skipped, overlap=prepared.overlap)
    return report


def decode_grayscale(dataset: str, info: WeightsInfo) -> bool:
    """Decode as the model was trained, as ``Recognizer`` does: a model of grayscale
    FER2013 sees RAF-DB's colour faces in gray."""
    return get_dataset_spec(dataset).grayscale or info.grayscale


@dataclass
class _Prepared:
    info: WeightsInfo
    where: EvaluationSplit
    data: FERDataset
    overlap: dict[str, Any]


def _run(checkpoint: str | Path, dataset: str | None, root: str | Path | None, split: str | None,
         options: dict[str, Any] | None, allow_overlap: bool, **predict: Any) -> tuple[_Prepared, Tensor, Tensor]:
    model, info = load(checkpoint, reparameterize=True)
    where = evaluation_split(info, dataset, root, split, options)
    samples = evaluation_samples(info, where)
    overlap = training_overlap(info, samples)
    check_overlap(overlap, where, checkpoint, allow=allow_overlap)  # before decoding a single image
    data = FERDataset(samples, info.classes, info.transforms(), grayscale=decode_grayscale(where.dataset, info),
                      cache=True)
    model = model.to(memory_format=torch.channels_last)
    probs, labels = predict_dataset(model, data, **predict)
    if info.logit_adjustment:  # trained balanced: scored as Recognizer answers by default, the prior added back
        from gclenet.models.calibration import adjust_probabilities

        probs = torch.from_numpy(adjust_probabilities(probs.numpy(), prior=info.class_prior,
                                                      trained_balance=info.logit_adjustment))
    return _Prepared(info, where, data, overlap), probs, labels


def predict_checkpoint(
    checkpoint: str | Path, dataset: str | None = None, root: str | Path | None = None, *, split: str | None = None,
    tta: str | None = None, batch_size: int = 128, options: dict[str, Any] | None = None, progress: bool = True,
    precision: str = "fp32", allow_overlap: bool = False,
) -> tuple[Tensor, Tensor, list[str], list[str]]:
    """Probabilities and labels of every image of ``dataset``'s ``split`` under the deploy
    form of ``checkpoint``; also its class list and the unreadable files skipped. Data set,
    split and options as in :func:`evaluate_checkpoint`."""
    prepared, probs, labels = _run(checkpoint, dataset, root, split, options, allow_overlap, tta=tta,
                                   batch_size=batch_size, progress=progress, precision=precision)
    return probs, labels, list(prepared.info.classes), prepared.data.skipped
