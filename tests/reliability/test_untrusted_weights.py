"""Weights files are data: a pickle that would run code is refused everywhere we load one."""

import pickle

import pytest
import torch

from gclenet.models import create_model
from gclenet.training.weights import load_init_weights, read_checkpoint


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # would create the marker file when unpickled


@pytest.fixture
def malicious(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.ckpt"
    torch.save({"state_dict": {"model.fc.weight": torch.zeros(1)}, "payload": Exploit(marker)}, path)
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps({"fc.weight": Exploit(marker)}))
    return path, raw, marker


def test_checkpoint_with_reduce_payload_is_refused(malicious):
    path, raw, marker = malicious
    with pytest.raises(ValueError, match="refused or unreadable"):
        read_checkpoint(path)
    with pytest.raises(ValueError, match="refused or unreadable"):
        load_init_weights(create_model("resnet34"), path)
    with pytest.raises(ValueError, match="not a loadable weights file"):
        create_model("resnet34", backbone_weights=raw)
    assert not marker.exists()


def test_recognizer_refuses_it_too(malicious):
    from gclenet.inference.recognizer import Recognizer

    path, _, marker = malicious
    with pytest.raises(ValueError):
        Recognizer(path, detector="none")
    assert not marker.exists()


def test_checkpoint_of_another_shape_names_the_mismatch(tmp_path):
    path = tmp_path / "lfa.pth"
    torch.save(create_model("gclenet_lfa").state_dict(), path)
    with pytest.raises(RuntimeError, match="missing .*mgc"):
        load_init_weights(create_model("gclenet"), path)
    other = tmp_path / "wide.pth"
    state = create_model("resnet34").state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(state, other)
    with pytest.raises(RuntimeError, match=r"layer1.0.conv1.weight \(64, 64, 5, 5\) vs \(64, 64, 3, 3\)"):
        load_init_weights(create_model("resnet34"), other)
