"""Evaluating a checkpoint: its own data options by default, and no scoring of images it trained on.

The case behind it: a model trained on CK+'s image split (frames of one person on both
sides), evaluated without repeating ``--option protocol=image``, was scored on the
subject split's test part, most of which it had trained on.
"""

from __future__ import annotations

import json

import pytest
import yaml

from gclenet.cli.main import main
from gclenet.data import read_split
from tests.data.layouts import ckplus48

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "contempt"]


@pytest.fixture(scope="module")
def image_protocol_run(tmp_path_factory):
    """A CK+-style fixture, and a one-batch run on its image-protocol fold 0."""
    tmp = tmp_path_factory.mktemp("ckplus")
    root = ckplus48(tmp / "CK+48", subjects=6, per_class=2)
    config = {"output_dir": str(tmp / "runs"), "run_name": "image", "model": {"name": "resnet34"},
              "data": {"dataset": "ckplus", "root": str(root), "classes": CLASSES, "input_size": 16, "batch_size": 8,
                       "options": {"folds": 5, "fold": 0, "protocol": "image"}},
              "trainer": {"max_epochs": 1, "limit_train_batches": 1, "precision": "32-true", "progress_bar": False}}
    (tmp / "image.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(tmp / "image.yaml")]) == 0
    return root, tmp / "runs" / "image" / "checkpoints" / "last.ckpt"


def test_the_checkpoints_own_split_needs_no_repeated_options(image_protocol_run, capsys):
    root, checkpoint = image_protocol_run
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = read_split("ckplus", root, "test", CLASSES, folds=5, fold=0, protocol="image")
    assert (report["dataset"], report["split"], report["root"]) == ("ckplus", "test", str(root))
    assert report["options"] == {"folds": 5, "fold": 0, "protocol": "image"}
    assert report["samples"] == len(expected)
    assert report["overlap"] == {"checked": True, "images": 0, "of": len(expected), "examples": [],
                                 "training_set": "ckplus train (fold=0, folds=5, protocol=image)"}


def test_a_split_that_overlaps_the_training_set_is_refused_or_reported(image_protocol_run, capsys):
    root, checkpoint = image_protocol_run
    trained = {s.source for s in read_split("ckplus", root, "train", CLASSES, folds=5, fold=0, protocol="image")}
    subject_test = read_split("ckplus", root, "test", CLASSES, folds=5, fold=0, protocol="subject")
    shared = sum(s.source in trained for s in subject_test)
    assert 0 < shared < len(subject_test)

    assert main(["evaluate", "--checkpoint", str(checkpoint), "--option", "protocol=subject"]) == 2
    err = capsys.readouterr().err
    assert f"{shared} of the {len(subject_test)} images of ckplus test (fold=0, folds=5, protocol=subject)" in err
    assert "training set" in err and "protocol=image" in err and "--allow-overlap" in err

    assert main(["evaluate", "--checkpoint", str(checkpoint), "--option", "protocol=subject", "--allow-overlap",
                 "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["samples"] == len(subject_test) and report["overlap"]["images"] == shared
    assert f"{shared} of the {len(subject_test)} images were in the training set" in captured.err


def test_weights_without_a_record_of_their_data_need_the_data_named(random_weights, tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(random_weights)]) == 2
    assert "pass --dataset and --root" in capsys.readouterr().err


def test_exported_weights_carry_the_record_and_evaluate_alike(image_protocol_run, tmp_path, capsys):
    from gclenet.models import read_weights_info

    _, checkpoint = image_protocol_run
    out = tmp_path / "ckplus.safetensors"
    assert main(["export", "--weights", str(checkpoint), "--format", "safetensors", "--out", str(out),
                 "--meta", 'accuracy={"ckplus test fold 0": 0.5}']) == 0
    info = read_weights_info(out)
    assert info.accuracy == {"ckplus test fold 0": 0.5} and info.label_mode == "majority" and info.date
    assert info.data["options"]["protocol"] == "image" and info.recipe["model"]["name"] == "resnet34"
    capsys.readouterr()
    reports = []
    for weights in (checkpoint, out):
        assert main(["evaluate", "--checkpoint", str(weights), "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert [(r["split"], r["options"], r["samples"]) for r in reports[:1]] * 2 == [
        (r["split"], r["options"], r["samples"]) for r in reports]
