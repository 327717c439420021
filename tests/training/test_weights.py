"""Starting a training run from our shipped weights by their tag."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from gclenet.models import _pretrained, create_model
from gclenet.training.weights import build_model_from_checkpoint, load_init_weights


@pytest.fixture
def shipped(random_weights, tmp_path, monkeypatch):
    """Stands in for gclenet/weights with the random weights under the shipped name."""
    shutil.copy(random_weights, tmp_path / _pretrained.SHIPPED_WEIGHTS["fer2013"])
    monkeypatch.setattr(_pretrained, "WEIGHTS_DIR", tmp_path)
    return load_file(str(random_weights))


@pytest.mark.parametrize("tag", ["fer2013", "default"])
def test_init_from_the_shipped_tag_replaces_only_a_head_of_another_size(shipped, tag):
    model = create_model("gclenet", num_classes=3)
    head_before = model.fc.weight.clone()
    with pytest.warns(UserWarning, match="head starts fresh"):
        load_init_weights(model, tag)
    assert torch.equal(model.layer4[0].conv1.weight, shipped["layer4.0.conv1.weight"].float())
    assert torch.equal(model.fc.weight, head_before)


@pytest.mark.parametrize("tag", ["fer2013", "default"])
def test_every_weights_reader_takes_the_shipped_tags(shipped, tag):
    model, info = build_model_from_checkpoint(tag)  # what export and the benchmarks read through
    assert info["classes"][3] == "happy"
    assert torch.equal(model.layer4[0].conv1.weight, shipped["layer4.0.conv1.weight"].float())
