"""Weights files are data: a pickle that would run code is refused everywhere we load one."""

import pickle

import pytest
import torch

from gclenet.models import create_model
from gclenet.models.weights import load_init_weights, read_checkpoint


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


def test_unreadable_configs_overrides_weights_and_checkpoints_are_one_line_errors(random_weights, tmp_path, capsys):
    from gclenet.cli.main import main
    from tests.training.test_train_cli import make_run

    def one_line_error(args, *names):
        assert main(args) == 2
        err = "\n".join(line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO"))
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err  # Lightning's INFO lines aside
        assert all(name in err for name in names), err

    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("optim: {lr: 0.1\n")
    one_line_error(["train", "--config", str(broken_yaml)], "broken.yaml", "not valid YAML")
    config = make_run(tmp_path)
    one_line_error(["train", "--config", str(config), "optim.lr=[0.1"], "optim.lr=[0.1")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(random_weights.read_bytes()[:1000])
    one_line_error(["predict", str(tmp_path), "--weights", str(truncated)], "cut.safetensors", "safetensors")
    one_line_error(["train", "--config", str(config), f"model.init_checkpoint={truncated}"], "cut.safetensors")
    last = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04 half a zip")
    one_line_error(["train", "--config", str(config), "--resume"], "last.ckpt", "unreadable checkpoint")
