"""Training faults: a NaN stops the run by name; a kill mid-checkpoint-write keeps the old file."""

import signal
import subprocess
import sys
import time

import pytest
import torch

from gclenet.cli.main import main
from tests.training.test_train_cli import make_run


def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    config = make_run(tmp_path, max_epochs=1)
    assert main(["train", "--config", str(config)]) == 0
    last = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    good = torch.load(last, weights_only=True)

    import gclenet.training.module as module

    real = module.F.cross_entropy
    monkeypatch.setattr(module.F, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    assert main(["train", "--config", str(config), "--resume", "trainer.max_epochs=2"]) == 2
    err = capsys.readouterr().err
    assert "non-finite training loss" in err and "global step 6" in err and "batch 0" in err
    after = torch.load(last, weights_only=True)
    assert after["global_step"] == good["global_step"]
    assert all(torch.equal(after["state_dict"][k], v) for k, v in good["state_dict"].items())


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and signals")
def test_kill_during_checkpoint_write_leaves_a_loadable_checkpoint(tmp_path):
    """SIGKILL the trainer while it writes checkpoints, many times over: last.ckpt is always whole."""
    config = make_run(tmp_path, max_epochs=40)
    ckpt_dir = tmp_path / "runs" / "tiny" / "checkpoints"
    proc = subprocess.Popen([sys.executable, "-m", "gclenet", "train", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_during_write = False
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if any(p.name.endswith(".tmp") for p in ckpt_dir.glob(".*")):  # a write is in progress
                proc.send_signal(signal.SIGKILL)
                killed_during_write = True
                break
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert killed_during_write, "never caught a checkpoint write in progress"
    last = ckpt_dir / "last.ckpt"
    if last.exists():  # the first write may have been the one killed: then there is simply none yet
        torch.load(last, weights_only=True)
    command = [sys.executable, "-m", "gclenet", "train", "--config", str(config), "trainer.max_epochs=2"]
    resumed = subprocess.run(command + (["--resume"] if last.exists() else []), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert torch.load(last, weights_only=True)["global_step"] == 2 * 6
    assert not list(ckpt_dir.glob(".*.tmp"))  # the killed writer's temporary file is cleaned up
