"""Class-aware losses for rare classes (optim.class_weight_power, optim.logit_adjustment): the
losses, the prior the run records, and inference answering as trained for accuracy by default."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gclenet.training.config import TrainConfig
from gclenet.training.module import FERClassifier

PRIOR = torch.tensor([0.6, 0.3, 0.1])


def classifier(**optim) -> FERClassifier:
    config = TrainConfig()
    config.model.overrides = {"lfa": False, "mgc": False}
    config.data.label_mode = "crossentropy"
    for key, value in optim.items():
        setattr(config.optim, key, value)
    module = FERClassifier(config, ["a", "b", "c"])
    module.class_prior = PRIOR
    return module


def test_off_by_default_is_plain_cross_entropy():
    logits, targets = torch.randn(6, 3), torch.softmax(torch.randn(6, 3), dim=1)
    assert torch.allclose(classifier().loss(logits, targets), -(targets * F.log_softmax(logits, 1)).sum(1).mean())


def test_class_weights_follow_the_inverse_prior():
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    weight = PRIOR ** -1.0
    weight = weight / (PRIOR * weight).sum()  # the mean weight under the prior is 1
    expected = F.cross_entropy(logits, labels, weight=weight)
    assert torch.allclose(classifier(class_weight_power=1.0).loss(logits, labels), expected)
    assert weight[2] > weight[1] > weight[0]  # the rare class counts most
    half = classifier(class_weight_power=0.5).loss(logits, labels)
    assert not torch.allclose(half, expected) and torch.isfinite(half)


def test_logit_adjusted_loss_trains_the_logits_balanced():
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    loss = classifier(logit_adjustment=1.0).loss(logits, labels)
    assert torch.allclose(loss, F.cross_entropy(logits + PRIOR.log(), labels))
    module = classifier(logit_adjustment=1.0)
    assert torch.allclose(module.prior_matched(logits), logits + PRIOR.log())  # what validation scores


def test_without_a_prior_the_class_aware_loss_says_why():
    module = classifier(logit_adjustment=1.0)
    module.class_prior = None
    with pytest.raises(RuntimeError, match="training prior"):
        module.loss(torch.randn(2, 3), torch.tensor([0, 1]))


@pytest.mark.slow
def test_a_run_records_its_prior_and_how_its_logits_are_balanced(tmp_path, capsys):
    import yaml

    from gclenet.cli.main import main
    from gclenet.inference.recognizer import Recognizer
    from gclenet.models import read_weights_info
    from gclenet.models.calibration import adjust_probabilities
    from tests.data.layouts import class_folders

    counts = {"angry": 12, "happy": 4, "neutral": 2}
    class_folders(tmp_path / "data" / "train", counts)
    class_folders(tmp_path / "data" / "test", {k: 2 for k in counts})
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "seed": 3, "output_dir": str(tmp_path / "runs"), "run_name": "tiny", "model": {"name": "gclenet"},
        "data": {"dataset": "folder", "root": str(tmp_path / "data"), "classes": list(counts), "input_size": 32,
                 "batch_size": 6},
        "optim": {"lr": 0.01, "schedule": "constant", "logit_adjustment": 1.0, "class_weight_power": 0.5},
        "trainer": {"max_epochs": 1, "precision": "32-true", "progress_bar": False}}))
    assert main(["train", "--config", str(config)]) == 0
    weights = tmp_path / "w.safetensors"
    assert main(["export", "--weights", str(tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"),
                 "--format", "safetensors", "--out", str(weights)]) == 0
    info = read_weights_info(weights)
    assert info.logit_adjustment == 1.0 and info.class_prior == pytest.approx((12 / 18, 4 / 18, 2 / 18), abs=1e-5)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(weights), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 6


def test_inference_adds_the_trained_balance_back(random_weights, tmp_path):
    from gclenet.inference.recognizer import Recognizer
    from gclenet.models import read_weights_info
    from gclenet.training.calibrate import write_record

    info = read_weights_info(random_weights)
    prior = np.linspace(1, 8, len(info.classes)) / np.linspace(1, 8, len(info.classes)).sum()
    weights = write_record(random_weights, tmp_path / "la.safetensors",
                           info.with_metadata(class_prior=list(prior), logit_adjustment=1.0))
    face = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    recognizer = Recognizer(weights, detector="none", backend="torch", precision="fp32")
    raw, default = recognizer.backend.classify([face]), recognizer.classify([face])
    expected = raw * prior  # softmax(z + log prior): as trained for accuracy
    np.testing.assert_allclose(default, expected / expected.sum(), rtol=1e-4)
    assert not np.allclose(default, raw, atol=1e-3)
    balanced = Recognizer(weights, detector="none", backend="torch", precision="fp32", balance=1.0)
    np.testing.assert_allclose(balanced.classify([face]), raw, rtol=1e-4)  # the network's own, balanced logits
