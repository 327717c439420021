"""Knowledge distillation (optim.distill_from): the target mixes the labels with the teachers'
probabilities on the student's own batch; teachers must fit the student and are never saved in it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gclenet.data.classes import BASIC_CLASSES
from gclenet.inference.export import save_weights
from gclenet.models import create_model, load
from gclenet.training.config import TrainConfig
from gclenet.training.distillation import Teachers
from gclenet.training.module import FERClassifier
from tests.conftest import weights_info


def student(teachers, **optim) -> FERClassifier:
    config = TrainConfig()
    config.model.overrides = {"lfa": False, "mgc": False}
    config.data.label_mode = "crossentropy"
    config.optim.distill_from = [str(t) for t in teachers]
    for key, value in optim.items():
        setattr(config.optim, key, value)
    return FERClassifier(config, list(BASIC_CLASSES))


def batch(n=4):
    return torch.randn(n, 3, 48, 48)


def test_the_target_is_the_label_and_the_teachers_mean_probability(random_weights, tmp_path):
    torch.manual_seed(1)
    other = save_weights(create_model("gclenet", zero_init_branches=False).eval(), weights_info(),
                         tmp_path / "other.safetensors", half=False)
    module = student([random_weights, other], distill_weight=0.3, distill_temperature=2.0)
    images = batch()
    labels = torch.softmax(torch.randn(4, 7), dim=1)
    expected_teacher = sum(torch.softmax(load(w)[0](images) / 2.0, dim=1) for w in (random_weights, other)) / 2
    target = module.distilled(images, labels)
    torch.testing.assert_close(target, 0.7 * labels + 0.3 * expected_teacher, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(target.sum(dim=1), torch.ones(4))
    one_hot = module.distilled(images, torch.tensor([0, 1, 2, 3]))  # majority labels become one-hot first
    assert one_hot[0, 0] >= 0.7 and torch.allclose(one_hot.sum(dim=1), torch.ones(4))


def test_a_teacher_for_other_classes_or_input_is_refused(tmp_path):
    model = create_model("gclenet", num_classes=3).eval()
    small = save_weights(model, weights_info(classes=["angry", "happy", "sad"]), tmp_path / "three.safetensors")
    with pytest.raises(ValueError, match=r"three\.safetensors.*classes"):
        student([small])
    sized = save_weights(create_model("gclenet").eval(), weights_info(input_size=64), tmp_path / "64.safetensors")
    with pytest.raises(ValueError, match="input size 64"):
        student([sized])


def test_a_balanced_teacher_answers_with_its_prior_added_back(random_weights, tmp_path):
    from gclenet.models import read_weights_info
    from gclenet.training.calibrate import write_record

    info = read_weights_info(random_weights)
    prior = np.linspace(1, 7, 7) / np.linspace(1, 7, 7).sum()
    balanced = write_record(random_weights, tmp_path / "la.safetensors",
                            info.with_metadata(class_prior=list(prior), logit_adjustment=1.0))
    images = batch()
    plain = Teachers([random_weights], info).probabilities(images)
    adjusted = Teachers([balanced], info).probabilities(images)
    expected = plain * torch.tensor(prior, dtype=torch.float32)
    torch.testing.assert_close(adjusted, expected / expected.sum(dim=1, keepdim=True), atol=1e-5, rtol=1e-4)


def test_settings_that_cannot_work_are_refused(random_weights):
    with pytest.raises(ValueError, match="distill_weight"):
        student([random_weights], distill_weight=0.0)
    with pytest.raises(ValueError, match="temperature"):
        student([random_weights], distill_temperature=0.0)
    with pytest.raises(ValueError, match="multi_target"):
        config = TrainConfig()
        config.data.label_mode = "multi_target"
        config.optim.distill_from = [str(random_weights)]
        FERClassifier(config, list(BASIC_CLASSES))


def test_the_teachers_are_no_part_of_the_student(random_weights):
    module = student([random_weights])
    assert not any(k.startswith("teachers") for k in module.state_dict())
    assert all(p.requires_grad for p in module.parameters())  # every parameter is the student's own
    teacher_params = [p for m in module.teachers.models for p in m.parameters()]
    assert teacher_params and not any(p.requires_grad for p in teacher_params)


@pytest.mark.slow
def test_a_distilled_run_trains_resumes_and_records_its_teachers(random_weights, tmp_path):
    import yaml

    from gclenet.cli.main import main
    from gclenet.models import read_weights_info
    from gclenet.models.weights import read_checkpoint
    from tests.data.layouts import class_folders

    counts = {name: 3 for name in BASIC_CLASSES}
    class_folders(tmp_path / "data" / "train", counts)
    class_folders(tmp_path / "data" / "test", {k: 1 for k in counts})
    config = tmp_path / "kd.yaml"
    config.write_text(yaml.safe_dump({
        "seed": 3, "output_dir": str(tmp_path / "runs"), "run_name": "kd", "model": {"name": "gclenet"},
        "data": {"dataset": "folder", "root": str(tmp_path / "data"), "classes": list(BASIC_CLASSES), "input_size": 48, "batch_size": 7,
                 "grayscale": True},
        "optim": {"lr": 0.01, "schedule": "constant", "distill_from": [str(random_weights)], "distill_weight": 0.5},
        "trainer": {"max_epochs": 1, "precision": "32-true", "progress_bar": False}}))
    assert main(["train", "--config", str(config)]) == 0
    last = tmp_path / "runs" / "kd" / "checkpoints" / "last.ckpt"
    assert not any("teacher" in k for k in read_checkpoint(last)["state_dict"])
    assert read_weights_info(last).recipe["optim"]["distill_from"] == [str(random_weights)]
    assert main(["train", "--config", str(config), "--resume", "trainer.max_epochs=2"]) == 0
    assert read_checkpoint(last)["epoch"] == 1
