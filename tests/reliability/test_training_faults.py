"""Training faults: a NaN stops the run by name; a kill mid-checkpoint-write keeps the old file."""

import signal
import subprocess
import sys
import time

import pytest
import torch

from gclenet.cli.main import main
from tests.training.test_train_cli import make_run


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    """Same seed; data order and random draws seeded from (seed, epoch) each epoch:
    a run killed after epoch 0 and resumed ends with the weights of one never interrupted."""
    straight = make_run(tmp_path / "a", max_epochs=2)
    assert main(["train", "--config", str(straight)]) == 0
    interrupted = make_run(tmp_path / "b", max_epochs=2)
    last = tmp_path / "b" / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-m", "gclenet", "train", "--config", str(interrupted)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    if torch.load(last, weights_only=True)["global_step"] < 12:  # killed before the end: resume
        assert main(["train", "--config", str(interrupted), "--resume"]) == 0
    a = torch.load(tmp_path / "a" / "runs" / "tiny" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(last, weights_only=True)
    assert a["global_step"] == b["global_step"] == 12
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)


@pytest.mark.slow
def test_a_run_with_loader_workers_resumes_exactly(tmp_path):
    """With loader workers, Lightning draws a resumed epoch's first indices before it sets the
    sampler's epoch (github.com/Lightning-AI/pytorch-lightning/issues/21938); the epoch travels
    in the checkpoint instead."""
    import yaml

    def config(folder):
        path = make_run(folder, max_epochs=1)
        values = yaml.safe_load(path.read_text())
        values["data"]["num_workers"] = 2
        values["optim"].update(schedule="constant", warmup_epochs=0)  # 1 + 1 epochs = 2 epochs
        path.write_text(yaml.safe_dump(values))
        return path

    assert main(["train", "--config", str(config(tmp_path / "a")), "trainer.max_epochs=2"]) == 0
    stopped = config(tmp_path / "b")
    assert main(["train", "--config", str(stopped)]) == 0
    assert main(["train", "--config", str(stopped), "--resume", "trainer.max_epochs=2"]) == 0
    a, b = (torch.load(tmp_path / x / "runs" / "tiny" / "checkpoints" / "last.ckpt", weights_only=True) for x in "ab")
    assert a["global_step"] == b["global_step"] == 12
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)


@pytest.mark.slow
def test_corrupt_training_images_are_named_and_skipped(tmp_path, capsys):
    config = make_run(tmp_path, max_epochs=1)
    (tmp_path / "data" / "train" / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "data" / "train" / "happy" / "empty.png").write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "gclenet", "train", "--config", str(config)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    skipped = [line for line in result.stderr.splitlines() if "skipped unreadable image" in line]
    assert len(skipped) == 2 and any("broken.jpg" in s for s in skipped) and any("empty.png" in s for s in skipped)
