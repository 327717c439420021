"""Stochastic weight averaging: what the checkpoints hold, across a resume."""

from __future__ import annotations

import csv

import pytest
import torch

from gclenet.training.config import config_from_dict
from gclenet.training.evaluate import predict_checkpoint
from gclenet.training.module import lr_factor
from gclenet.training.train import train
from tests.data.layouts import class_folders

CLASSES = {"angry": 6, "happy": 6, "neutral": 6}


def tiny_config(tmp_path, max_epochs: int, swa_start_epoch: int | None):
    class_folders(tmp_path / "data" / "train", CLASSES)
    class_folders(tmp_path / "data" / "test", {k: 2 for k in CLASSES})
    return config_from_dict({
        "seed": 5, "output_dir": str(tmp_path / "runs"), "run_name": "swa",
        "model": {"name": "resnet34"},
        "data": {"dataset": "folder", "root": str(tmp_path / "data"), "classes": list(CLASSES),
                 "input_size": 32, "batch_size": 6},
        "optim": {"lr": 0.002, "schedule": "constant", "swa_start_epoch": swa_start_epoch},
        "trainer": {"max_epochs": max_epochs, "precision": "32-true", "progress_bar": False},
    })


def float_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if v.is_floating_point()}


@pytest.mark.slow
def test_checkpoint_holds_the_average_of_epoch_weights_across_resume(tmp_path):
    last = tmp_path / "runs" / "swa" / "checkpoints" / "last.ckpt"
    train(tiny_config(tmp_path, max_epochs=2, swa_start_epoch=1))
    after_two = torch.load(last, weights_only=True)
    # One epoch averaged so far: the average is the weights after epoch 1 (0-based), not epoch 0's.
    w1 = float_tensors(after_two["current_model_state"])
    for name, value in float_tensors(after_two["state_dict"]).items():
        torch.testing.assert_close(value, w1[name], msg=name)

    train(tiny_config(tmp_path, max_epochs=3, swa_start_epoch=1), resume=True)
    after_three = torch.load(last, weights_only=True)
    w2 = float_tensors(after_three["current_model_state"])
    assert any(not torch.equal(w1[k], w2[k]) for k in w1), "epoch 2 did not train"
    average = float_tensors(after_three["state_dict"])
    for name in w1:  # weights and BatchNorm statistics alike
        torch.testing.assert_close(average[name], (w1[name] + w2[name]) / 2, msg=name)


@pytest.mark.slow
def test_validation_scores_the_average_that_the_checkpoint_holds(tmp_path):
    last = tmp_path / "runs" / "swa" / "checkpoints" / "last.ckpt"
    train(tiny_config(tmp_path, max_epochs=3, swa_start_epoch=0))
    probs, labels, _, _ = predict_checkpoint(last, "folder", tmp_path / "data", progress=False)
    loss = -probs[torch.arange(len(labels)), labels].log().mean().item()
    with open(tmp_path / "runs" / "swa" / "logs" / "metrics.csv") as f:
        logged = [float(row["val_loss"]) for row in csv.DictReader(f) if row["val_loss"]]
    assert len(logged) == 3
    assert logged[-1] == pytest.approx(loss, rel=1e-4)


@pytest.mark.slow
def test_before_the_first_average_the_model_is_validated_and_saved_as_itself(tmp_path):
    last = tmp_path / "runs" / "swa" / "checkpoints" / "last.ckpt"
    train(tiny_config(tmp_path, max_epochs=1, swa_start_epoch=1))  # averaging would start at epoch 1
    checkpoint = torch.load(last, weights_only=True)
    assert "current_model_state" not in checkpoint  # the trained weights, not the copy from the start of fit
    probs, labels, _, _ = predict_checkpoint(last, "folder", tmp_path / "data", progress=False)
    with open(tmp_path / "runs" / "swa" / "logs" / "metrics.csv") as f:
        (logged,) = [float(row["val_loss"]) for row in csv.DictReader(f) if row["val_loss"]]
    assert logged == pytest.approx(-probs[torch.arange(len(labels)), labels].log().mean().item(), rel=1e-4)
    train(tiny_config(tmp_path, max_epochs=2, swa_start_epoch=1), resume=True)  # and averaging starts on resume
    resumed = torch.load(last, weights_only=True)
    current = float_tensors(resumed["current_model_state"])
    for name, value in float_tensors(resumed["state_dict"]).items():
        torch.testing.assert_close(value, current[name], msg=name)  # an average of one epoch: that epoch


def test_without_swa_the_checkpoint_carries_no_average(tmp_path):
    last = tmp_path / "runs" / "swa" / "checkpoints" / "last.ckpt"
    train(tiny_config(tmp_path, max_epochs=1, swa_start_epoch=None))
    checkpoint = torch.load(last, weights_only=True)
    assert "current_model_state" not in checkpoint


def test_constant_schedule_after_warmup():
    f = lambda step: lr_factor(step, total_steps=100, steps_per_epoch=10, schedule="constant",  # noqa: E731
                               warmup_epochs=1, step_epochs=0, gamma=0)
    assert f(0) == pytest.approx(0.1) and f(9) == 1.0 and f(99) == 1.0


def test_negative_start_epoch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="swa_start_epoch"):
        train(tiny_config(tmp_path, max_epochs=1, swa_start_epoch=-1))
