"""Starting a training run from our shipped weights by their tag."""

import logging
import shutil

import pytest
import torch
from safetensors.torch import load_file

from gclenet.models import create_model, load, weights
from gclenet.models.weights import load_init_weights


@pytest.fixture
def shipped(random_weights, tmp_path, monkeypatch):
    """Stands in for gclenet/weights with the random weights under every shipped name."""
    for name in weights.SHIPPED_WEIGHTS.values():
        shutil.copy(random_weights, tmp_path / name)
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    return load_file(str(random_weights))


@pytest.mark.parametrize("tag", ["ferplus", "fer2013", "default"])
def test_init_from_the_shipped_tag_replaces_only_a_head_of_another_size(shipped, tag):
    model = create_model("gclenet", num_classes=3)
    head_before = model.fc.weight.clone()
    with pytest.warns(UserWarning, match="head starts fresh"):
        load_init_weights(model, tag)
    assert torch.equal(model.layer4[0].conv1.weight, shipped["layer4.0.conv1.weight"].float())
    assert torch.equal(model.fc.weight, head_before)


@pytest.mark.parametrize("tag", ["ferplus", "fer2013", "default"])
def test_every_weights_reader_takes_the_shipped_tags(shipped, tag):
    model, info = load(tag)  # what export and the benchmarks read through
    assert info.classes[3] == "happy"
    assert torch.equal(model.layer4[0].conv1.weight, shipped["layer4.0.conv1.weight"].float())


def test_fine_tuning_keeps_reorders_or_replaces_the_head_by_class_names(random_weights, caplog):
    import warnings

    from safetensors.torch import load_file

    trained = load_file(str(random_weights))  # classes: angry, disgust, fear, happy, sad, surprise, neutral
    canonical = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    model = create_model("gclenet", num_classes=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_init_weights(model, random_weights, canonical)
        assert torch.equal(model.fc.weight, trained["fc.weight"].float())
        reordered = canonical[::-1]  # same classes, another order: each row follows its class
        load_init_weights(model, random_weights, reordered)
        assert torch.equal(model.fc.weight, trained["fc.weight"].float().flip(0))
    other = ["angry", "disgust", "fear", "happy", "sad", "surprise", "contempt"]  # as many, not the same
    head_before = create_model("gclenet", num_classes=7).fc.weight.clone()
    fresh = create_model("gclenet", num_classes=7)
    fresh.fc.weight.data.copy_(head_before)
    with caplog.at_level(logging.INFO, logger="gclenet.models.weights"):  # expected: an event, not a warning
        load_init_weights(fresh, random_weights, other)
    assert "head starts fresh" in caplog.text
    assert torch.equal(fresh.fc.weight, head_before)
    assert torch.equal(fresh.layer4[0].conv1.weight, trained["layer4.0.conv1.weight"].float())


def test_the_shipped_fer2013_file_reads_into_its_record():
    from gclenet.models.weights import WeightsInfo, read_weights_info, shipped_weights_path

    try:
        info = read_weights_info(shipped_weights_path("fer2013"))
    except FileNotFoundError:
        pytest.skip("no shipped weights in this checkout")
    assert (info.model_name, info.input_size, info.grayscale, info.num_classes) == ("gclenet", 48, True, 7)
    assert info.model_overrides == {"drop_rate": 0.3}
    assert info.data.startswith("FER2013 Training") and info.accuracy.startswith("64.39 %")
    assert info.date == "2026-11-24" and "weight-only int8" in info.extra["storage"]
    assert WeightsInfo.from_json(info.to_json()) == info


def test_the_default_weights_are_ferplus_with_their_record():
    from gclenet.models.weights import DEFAULT_WEIGHTS, read_weights_info, resolve_weights

    try:
        info = read_weights_info(resolve_weights("default"))
    except FileNotFoundError:
        pytest.skip("no shipped weights in this checkout")
    assert DEFAULT_WEIGHTS == "ferplus" and info.num_classes == 8 and info.classes[-1] == "contempt"
    assert info.label_mode == "crossentropy" and "FER+ Training" in info.extra["training_data"]
    assert info.input_size == 48 and info.grayscale
    # The run's data record travels whole, so `calibrate` and `evaluate` find the part it held out.
    assert info.data["dataset"] == "ferplus" and info.data["holdout_fraction"] == 0.05
    assert 0.5 < info.temperature < 1.5 and info.extra["calibration"]["fitted_on"].endswith("held out)")


def test_the_shipped_int8_model_has_7_bit_weights_and_its_validation():
    """7-bit weights: exact on every x86 kernel (an 8-bit file saturates on CPUs without VNNI)."""
    import json

    onnx = pytest.importorskip("onnx")
    from gclenet.models.weights import shipped_weights_path

    path = shipped_weights_path("ferplus").with_suffix(".int8.onnx")
    if not path.is_file():
        pytest.skip("no shipped int8 model in this checkout")
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    made = json.loads(props["gclenet_int8"])
    assert made["reduce_range"] is True and made["validation"]["accuracy_drop_points"] <= 0.5


def test_the_record_carries_what_new_weights_add_and_round_trips():
    from gclenet.models.weights import WeightsInfo

    info = WeightsInfo(model_name="gclenet", classes=["neutral", "happy"], input_size=96, grayscale=True,
                       data={"dataset": "ferplus", "train_split": "train"}, label_mode="crossentropy",
                       recipe={"optim": {"lr": 0.05}}, accuracy={"ferplus test": 0.86}, date="2026-12-01")
    assert info.classes == ("neutral", "happy") and info.transforms().input_size == 96
    again = WeightsInfo.from_json(info.to_json())
    assert again == info and again.accuracy == {"ferplus test": 0.86} and again.label_mode == "crossentropy"
    assert info.with_metadata(accuracy={"x": 1.0}, note="kept").to_dict()["note"] == "kept"
    with pytest.raises(ValueError, match="input_size"):
        WeightsInfo.from_dict({"model_name": "gclenet", "classes": ["a"]})


def test_weight_only_int8_files_are_half_the_size_and_load_close_to_the_original(random_weights, tmp_path):
    """What lets a second set of weights ship in the wheel: large weights as int8 with one
    scale per output channel, dequantized by every loader."""
    from gclenet.inference.export import save_weights
    from gclenet.models.weight_storage import SCALE_SUFFIX
    from gclenet.models.weights import read_state_dict

    model, info = load(random_weights)
    small = save_weights(model, info, tmp_path / "int8.safetensors", int8=True)
    half = save_weights(model, info, tmp_path / "fp16.safetensors")
    assert small.stat().st_size < 0.6 * half.stat().st_size
    stored = load_file(str(small))
    assert stored["layer4.0.conv1.weight"].dtype == torch.int8 and stored["fc.bias"].dtype == torch.float16
    assert stored["layer4.0.conv1.weight" + SCALE_SUFFIX].shape == (512,)
    state = read_state_dict(small)
    assert not any(k.endswith(SCALE_SUFFIX) for k in state)
    original = model.state_dict()["layer4.0.conv1.weight"]
    step = original.abs().amax(dim=(1, 2, 3)).view(-1, 1, 1, 1) / 127
    assert torch.all((state["layer4.0.conv1.weight"] - original).abs() <= step / 2 + 1e-7)
    again, again_info = load(small, reparameterize=True)
    reference, _ = load(random_weights, reparameterize=True)
    x = torch.randn(4, 3, 48, 48)
    with torch.inference_mode():
        got, expected = again(x), reference(x)
    assert again_info == info and torch.equal(got.argmax(1), expected.argmax(1))
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()  # an untrained net: errors add up
