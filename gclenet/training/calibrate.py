"""``gclenet calibrate``: fit the temperature of trained weights on held-out faces and store
it, with the training prior that ``balance`` needs, in the weights' record.

The fit set should be faces the weights did not train on and that are not the ones they
will be scored on: by default the part of the training split the run held out
(``data.holdout_fraction``), as ``gclenet evaluate`` picks it. A split that overlaps the
training set is refused unless ``allow_overlap`` (then the report says so: a model is more
confident on faces it trained on, so the temperature comes out too low).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gclenet.fileio import atomic_write_bytes
from gclenet.models.calibration import (adjust_probabilities, expected_calibration_error, fit_temperature,
                                           negative_log_likelihood, sample_prior)
from gclenet.models.weights import WeightsInfo, read_weights_info, resolve_weights
from gclenet.training.splits import (HELD_OUT, evaluation_samples, evaluation_split, recorded_holdout, training_overlap,
                                    training_samples)

__all__ = ["calibrate_weights", "write_record"]


def write_record(weights: str | Path, out: str | Path, info: WeightsInfo) -> Path:
    """A copy of the ``.safetensors`` ``weights`` (tensors unchanged, byte for byte) with ``info`` as its record."""
    from safetensors import safe_open
    from safetensors.torch import save

    path = resolve_weights(weights)
    with safe_open(str(path), "pt") as handle:
        metadata = dict(handle.metadata() or {})
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    blob = save(tensors, {**metadata, "gclenet": info.to_json()})
    atomic_write_bytes(out, lambda stream: stream.write(blob))
    return Path(out)


def calibrate_weights(weights: str | Path, out: str | Path | None = None, *, dataset: str | None = None,
                      root: str | Path | None = None, split: str | None = None,
                      options: dict[str, Any] | None = None, allow_overlap: bool = False, batch_size: int = 128,
                      progress: bool = True, bins: int = 15) -> dict[str, Any]:
    """Fit the temperature of ``weights`` on a split (default: the part the run held out) and
    write the weights with it and the training prior to ``out`` (``None``: only measure).

    Returns:
        the temperature, the fit set, and its negative log-likelihood and expected calibration
        error (``bins`` bins) before and after.

    Raises:
        ValueError: the split overlaps the training set (without ``allow_overlap``); weights
            that are not a ``.safetensors`` file (with ``out``).
    """
    from gclenet.training.evaluate import predict_checkpoint

    if out is not None and resolve_weights(weights).suffix != ".safetensors":
        raise ValueError(f"{weights}: calibrate writes exported weights; export it first: "
                         f"gclenet export --weights {weights} --format safetensors --out W.safetensors")
    info = read_weights_info(weights)
    if split is None and recorded_holdout(info, dataset):
        # The part the run held out, even where the run also names a split of its own for
        # ``evaluate`` to score: the temperature is fitted on faces it will not be scored on.
        split = HELD_OUT
    where = evaluation_split(info, dataset, root, split, options)
    probs, labels, _, skipped = predict_checkpoint(weights, dataset, root, split=split, options=options,
                                                   batch_size=batch_size, progress=progress,
                                                   allow_overlap=allow_overlap)
    probs, labels = probs.numpy().astype(np.float64), labels.numpy()
    temperature = fit_temperature(probs, labels)
    calibrated = adjust_probabilities(probs, temperature=temperature)
    samples = evaluation_samples(info, where)
    overlap = training_overlap(info, samples)
    report = {
        "temperature": temperature, "fitted_on": where.describe(), "faces": int(len(labels)), "skipped": skipped,
        "overlap": overlap, "bins": bins,
        "nll_before": negative_log_likelihood(probs, labels), "nll_after": negative_log_likelihood(calibrated, labels),
        "ece_before": expected_calibration_error(probs, labels, bins),
        "ece_after": expected_calibration_error(calibrated, labels, bins),
    }
    if out is not None:
        # The training targets' class distribution; the fit split's where the record names no training data.
        prior = info.class_prior or sample_prior(training_samples(info) or samples, len(info.classes))
        fit = {k: report[k] for k in ("fitted_on", "faces", "ece_before", "ece_after")}
        write_record(weights, out, info.with_metadata(temperature=temperature, class_prior=prior, calibration=fit))
        report.update(out=str(out), class_prior=list(prior))
    return report
