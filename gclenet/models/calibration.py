"""Probabilities that mean what they say, and a knob for rare expressions.

Two adjustments of a model's class probabilities, applied after whichever engine computed
them (so every engine gives the same answer) and stored in the weights' record:

* **temperature** (Guo et al., 2017, "On calibration of modern neural networks"): the
  logits divided by one scalar fitted on held-out faces, so that a face given 80 % is right
  about 80 % of the time. It never changes the top class.
* **balance** (logit adjustment, Menon et al., 2021): the log of the training prior,
  scaled by ``balance``, subtracted from the logits. ``0`` answers as trained (best overall
  accuracy); ``1`` answers as if every class were equally common (best mean class accuracy,
  rare classes such as contempt and disgust found more often, common ones less).

A model's probabilities are a softmax of its logits, so both are computed from the
probabilities alone: ``softmax(log p / T - balance * log prior)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["adjust_probabilities", "fit_temperature", "expected_calibration_error", "reliability_bins",
           "training_prior", "sample_prior", "negative_log_likelihood"]

_TINY = 1e-12  # probabilities of exactly 0 (an fp16 or int8 engine's underflow) stay finite in the log


def adjust_probabilities(probs: np.ndarray, *, temperature: float = 1.0, prior: Sequence[float] | None = None,
                         balance: float = 0.0, trained_balance: float = 0.0) -> np.ndarray:
    """``probs`` (rows of class probabilities) at ``temperature``, then adjusted by ``balance`` x log ``prior``.

    ``trained_balance``: how balanced the model's outputs already are (the record's
    ``logit_adjustment``: trained with the logit-adjusted loss); the prior is then added back
    by that much, so ``balance=0`` answers as trained for accuracy whatever the loss was.

    Raises:
        ValueError: a temperature that is not positive, a negative balance, or a balance without a prior.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if balance < 0:
        raise ValueError(f"balance must be 0 (as trained) or more (1: every class equally likely), got {balance}")
    if temperature == 1.0 and balance == 0.0 and trained_balance == 0.0:
        return probs
    if (balance or trained_balance) and prior is None:
        raise ValueError("balance needs the training prior of the weights' classes, and these weights carry "
                         "none; `gclenet calibrate` stores it")
    # The calibrated posterior is softmax(logits / T) of the logits as trained for accuracy
    # (the prior added back where the loss balanced them); balancing divides it by prior^balance.
    log_prior = np.log(np.maximum(np.asarray(prior, dtype=np.float64), _TINY)) if prior is not None else 0.0
    logits = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _TINY)) + trained_balance * log_prior
    logits = logits / temperature - balance * log_prior
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.asarray(probs).dtype)


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean ``-log p(label)``."""
    return float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], _TINY)).mean())


def fit_temperature(probs: np.ndarray, labels: Sequence[int], *, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (golden-section
    search over log T: the likelihood is unimodal in T for a fixed set of logits).

    Raises:
        ValueError: no samples, or labels and probabilities of different lengths.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0 or len(labels) != len(probs):
        raise ValueError(f"temperature needs probabilities and labels of the same faces, got {len(probs)} "
                         f"and {len(labels)}")

    def loss(log_t: float) -> float:
        return negative_log_likelihood(adjust_probabilities(probs, temperature=float(np.exp(log_t))), labels)

    ratio = (np.sqrt(5) - 1) / 2
    a, b = np.log(low), np.log(high)
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(60):  # the bracket shrinks to ~1e-12 of its width
        if loss(c) < loss(d):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    return round(float(np.exp((a + b) / 2)), 4)


def reliability_bins(probs: np.ndarray, labels: Sequence[int], bins: int = 15) -> list[dict[str, Any]]:
    """Per equal-width bin of top probability: faces, mean confidence, accuracy (empty bins left out)."""
    labels = np.asarray(labels)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        members = index == b
        if members.any():
            out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "faces": int(members.sum()),
                        "confidence": float(confidence[members].mean()),
                        "accuracy": float((predicted[members] == labels[members]).mean())})
    return out


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int], bins: int = 15) -> float:
    """The faces-weighted mean gap between confidence and accuracy over ``bins`` equal-width bins."""
    total = len(labels)
    return float(sum(b["faces"] * abs(b["confidence"] - b["accuracy"]) for b in reliability_bins(probs, labels, bins))
                 / max(total, 1))


def sample_prior(samples: Sequence[Any], num_classes: int) -> tuple[float, ...]:
    """:func:`training_prior` of data set samples (``gclenet.data.Sample``: its vote
    distribution ``target`` where the data set has one, else its ``label`` one-hot)."""
    eye = np.eye(num_classes)
    return training_prior([s.target if s.target else eye[s.label] for s in samples])


def training_prior(targets: Sequence[Sequence[float]] | np.ndarray) -> tuple[float, ...]:
    """The class distribution of training targets (one-hot labels or FER+-style vote
    distributions, one row per image), rounded for the record."""
    mean = np.asarray(targets, dtype=np.float64).mean(axis=0)
    return tuple(round(float(v), 6) for v in mean / mean.sum())
