from urllib.error import URLError

import pytest
import torch
from torchvision.models import ResNet34_Weights, resnet34

from gclenet.models import create_model


def test_local_torchvision_file_initialises_the_backbone(tmp_path):
    reference = resnet34()  # stands in for ImageNet weights: same keys, random values
    path = tmp_path / "resnet34.pth"
    torch.save(reference.state_dict(), path)
    model = create_model("gclenet", num_classes=7, backbone_weights=path)
    assert torch.equal(model.layer3[2].conv1.weight, reference.layer3[2].conv1.weight)
    assert model.fc.out_features == 7  # the 1000-class head is not forced on us


def test_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, path)
    with pytest.raises(RuntimeError, match="not a torchvision ResNet-34"):
        create_model("resnet34", backbone_weights=path)


def test_offline_imagenet_request_says_how_to_use_a_local_file(monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(type(ResNet34_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(RuntimeError, match="backbone_weights='/path/to/resnet34-b627a593.pth'"):
        create_model("gclenet", backbone_weights="imagenet")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        create_model("gclenet", backbone_weights=tmp_path / "nope.pth")


def test_trained_weights_load_by_path_with_their_metadata(random_weights):
    from safetensors.torch import load_file

    saved = load_file(str(random_weights))
    model = create_model("gclenet", weights=random_weights)
    assert list(model.weights_info.classes) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert model.fc.out_features == 7
    for key, value in model.state_dict().items():
        if key in saved:
            assert torch.equal(value, saved[key].float()), key


def test_trained_weights_for_another_class_count_keep_all_but_the_head(random_weights):
    with pytest.warns(UserWarning, match="head starts fresh"):
        model = create_model("gclenet", weights=random_weights, num_classes=3)
    assert model.fc.out_features == 3
    from safetensors.torch import load_file

    assert torch.equal(model.conv1.weight, load_file(str(random_weights))["conv1.weight"].float())


def test_trained_weights_of_another_variant_are_refused(random_weights):
    with pytest.raises(ValueError, match="variant 'gclenet', not 'resnet34'"):
        create_model("resnet34", weights=random_weights)


def test_unknown_weights_tag_and_missing_shipped_file_are_explained(monkeypatch, tmp_path):
    from gclenet.models import weights

    with pytest.raises(FileNotFoundError, match="rafdb"):
        create_model("gclenet", weights="rafdb")  # neither a tag nor a file
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="shipped weights missing"):
        weights.shipped_weights_path("fer2013")
