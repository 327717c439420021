"""`gclenet calibrate`: the temperature fitted on a split and stored with the training prior;
every engine's probabilities follow the record."""

import json

import numpy as np
import pytest
from safetensors import safe_open

from gclenet.cli.main import main
from gclenet.data.classes import BASIC_CLASSES
from gclenet.models.calibration import adjust_probabilities
from gclenet.inference.recognizer import Recognizer
from gclenet.models import read_weights_info
from gclenet.training.calibrate import write_record
from tests.data.layouts import class_folders


def tensors(path):
    with safe_open(str(path), "np") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


def test_calibrate_writes_the_temperature_and_prior(random_weights, tmp_path, capsys):
    root = class_folders(tmp_path / "data" / "test", {name: 3 for name in BASIC_CLASSES[:3]}, mode="RGB").parent
    out = tmp_path / "calibrated.safetensors"
    assert main(["calibrate", "--weights", str(random_weights), "--dataset", "folder", "--root", str(root),
                 "--split", "test", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    info = read_weights_info(out)
    assert info.temperature == report["temperature"] > 0 and report["faces"] == 9
    assert report["nll_after"] <= report["nll_before"] + 1e-9  # the fit minimises it
    assert info.class_prior[:3] == pytest.approx((1 / 3,) * 3, abs=1e-5) and sum(info.class_prior) == pytest.approx(1, abs=1e-5)
    assert info.extra["calibration"]["faces"] == 9
    before, after = tensors(random_weights), tensors(out)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert read_weights_info(random_weights).network_dict() == info.network_dict()


def test_recognizer_applies_the_record_on_every_engine(random_weights, tmp_path):
    info = read_weights_info(random_weights)
    prior = tuple(np.linspace(1, 3, len(info.classes)) / np.linspace(1, 3, len(info.classes)).sum())
    hot = write_record(random_weights, tmp_path / "hot.safetensors", info.with_metadata(temperature=2.5,
                                                                                         class_prior=prior))
    faces = [np.random.default_rng(i).integers(0, 255, (48, 48, 3), dtype=np.uint8) for i in range(4)]
    raw = Recognizer(hot, detector="none", backend="torch", precision="fp32", calibrated=False).classify(faces)
    for kwargs in ({}, {"balance": 0.7}):
        got = Recognizer(hot, detector="none", backend="torch", precision="fp32", **kwargs).classify(faces)
        np.testing.assert_allclose(got, adjust_probabilities(raw, temperature=2.5, prior=prior,
                                                             balance=kwargs.get("balance", 0)), rtol=1e-5)
        assert (got.max(1) < raw.max(1)).all()  # flatter, whatever the engine
    with pytest.raises(ValueError, match="gclenet calibrate"):  # no prior in the record: no balance
        Recognizer(random_weights, detector="none", balance=0.5)


def test_predict_balance_flag(random_weights, tmp_path, capsys):
    info = read_weights_info(random_weights)
    skewed = write_record(random_weights, tmp_path / "skewed.safetensors",
                          info.with_metadata(class_prior=[0.97] + [0.005] * (len(info.classes) - 1)))
    face = tmp_path / "face.png"
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(face)
    runs = {}
    for balance in ("0", "1"):
        assert main(["predict", str(face), "--weights", str(skewed), "--detector", "none", "--json",
                     "--balance", balance]) == 0
        runs[balance] = json.loads(capsys.readouterr().out)[0]["faces"][0]["probs"]
    first = info.classes[0]
    assert runs["1"][first] < runs["0"][first]  # the common class loses what the prior gave it


def test_calibrate_refuses_to_write_a_checkpoint(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"")
    assert main(["calibrate", "--weights", str(ckpt), "--out", str(tmp_path / "x.safetensors")]) == 2


def test_calibrate_fits_on_the_held_out_part_even_where_the_run_names_another_split(random_weights, tmp_path, capsys):
    """A run that held out part of its training split fits its temperature there by default,
    although its record also names a validation split (here one the data set does not have)."""
    root = class_folders(tmp_path / "data" / "train", {name: 10 for name in BASIC_CLASSES[:3]}, mode="RGB").parent
    info = read_weights_info(random_weights).with_metadata(data={
        "dataset": "folder", "root": str(root), "train_split": "train", "val_split": "test",
        "holdout_fraction": 0.2, "seed": 42})
    weights = write_record(random_weights, tmp_path / "held.safetensors", info)
    assert main(["calibrate", "--weights", str(weights), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["faces"] == 6 and "held" in report["fitted_on"]  # 20 % of the 30 training faces


def test_calibrate_of_weights_whose_record_describes_their_data_in_words(random_weights, tmp_path, capsys):
    """Older records (the shipped `fer2013` weights') give their training data as text: nothing is
    held out then, and the split defaults as for evaluate."""
    root = class_folders(tmp_path / "data" / "test", {name: 2 for name in BASIC_CLASSES[:3]}, mode="RGB").parent
    info = read_weights_info(random_weights).with_metadata(data="FER2013 Training (28,709 images)")
    weights = write_record(random_weights, tmp_path / "worded.safetensors", info)
    assert main(["calibrate", "--weights", str(weights), "--dataset", "folder", "--root", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == 6
