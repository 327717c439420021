"""Training on FER+ vote distributions: the losses, and each label mode end to end through the CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
import yaml

from gclenet.data.classes import CANONICAL_CLASSES
from gclenet.training.config import TrainConfig
from gclenet.training.module import FERClassifier
from tests.data.layouts import ferplus_folders
from tests.training.test_train_cli import gclenet

ROWS = [[0, 9, 1, 0, 0, 0, 0, 0, 0, 0], [4, 0, 0, 1, 3, 2, 0, 0, 0, 0], [8, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        [0, 0, 6, 0, 0, 0, 4, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 8, 0, 0], [0, 0, 0, 7, 3, 0, 0, 0, 0, 0]]


def classifier(label_mode: str) -> FERClassifier:
    config = TrainConfig()
    config.model.overrides = {"lfa": False, "mgc": False}
    config.data.label_mode = label_mode
    return FERClassifier(config, list(CANONICAL_CLASSES))


def test_soft_cross_entropy_is_the_expected_log_likelihood():
    logits = torch.randn(5, 8)
    targets = torch.softmax(torch.randn(5, 8), dim=1)
    expected = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert torch.allclose(classifier("crossentropy").loss(logits, targets), expected)
    labels = torch.randint(0, 8, (5,))  # one-hot distributions are the hard-label loss
    assert torch.allclose(classifier("crossentropy").loss(logits, F.one_hot(labels, 8).float()),
                          F.cross_entropy(logits, labels))


def test_multi_target_loss_rewards_the_best_of_the_accepted_classes():
    logits = torch.tensor([[4.0, 0.0, 0.0, 3.0, 0, 0, 0, 0]])
    probs = torch.softmax(logits, dim=1)[0]
    both = torch.tensor([[0.5, 0, 0, 0.5, 0, 0, 0, 0]])
    loss = classifier("multi_target").loss(logits, both)
    assert loss.item() == pytest.approx(-torch.log(probs[0] * 0.5).item(), rel=1e-5)  # class 0 is the likelier
    only_second = torch.tensor([[0, 0, 0, 1.0, 0, 0, 0, 0]])
    assert classifier("multi_target").loss(logits, only_second) > loss


@pytest.mark.slow
@pytest.mark.parametrize("label_mode", ["crossentropy", "probability", "multi_target"])
def test_each_label_mode_trains_and_evaluates_on_majority_labels(tmp_path, label_mode):
    root = ferplus_folders(tmp_path / "ferplus", {"Train": ROWS * 2, "Valid": ROWS})
    config = {
        "seed": 1, "output_dir": str(tmp_path / "runs"), "run_name": label_mode,
        "model": {"name": "gclenet", "overrides": {"acmix_window": 3}},
        "data": {"dataset": "ferplus", "root": str(root), "val_split": "val", "label_mode": label_mode,
                 "input_size": 32, "batch_size": 4, "augment": {"crop_scale": [0.6, 1.6], "translate": 0.1}},
        "optim": {"lr": 0.01},
        "trainer": {"max_epochs": 1, "precision": "32-true", "progress_bar": False, "log_every_n_steps": 1},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = gclenet("train", "--config", str(tmp_path / "c.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    checkpoint = tmp_path / "runs" / label_mode / "checkpoints" / "last.ckpt"
    result = gclenet("evaluate", "--checkpoint", str(checkpoint), "--dataset", "ferplus", "--root", str(root),
                     "--split", "val", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["samples"] == 5  # majority protocol: the row without a majority is left out
    assert len(report["classes"]) == 8


def test_a_reader_without_votes_refuses_soft_labels(tmp_path):
    from tests.data.layouts import class_folders
    class_folders(tmp_path / "data" / "train", {"happy": 2, "sad": 2})
    class_folders(tmp_path / "data" / "test", {"happy": 1, "sad": 1})
    config = TrainConfig()
    config.data.dataset, config.data.root, config.data.label_mode = "folder", str(tmp_path / "data"), "crossentropy"
    from gclenet.training.datamodule import FERDataModule
    with pytest.raises(ValueError, match="does not take option"):
        FERDataModule(config.data).setup("fit")
