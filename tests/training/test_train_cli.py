"""End to end through the command line: train, kill, resume, evaluate; DDP on 2 CPU processes."""

from __future__ import annotations

import json
import os
import socket
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.data.layouts import class_folders

CLASSES = {"angry": 8, "happy": 8, "neutral": 8}


def make_run(tmp_path: Path, **trainer) -> Path:
    class_folders(tmp_path / "data" / "train", CLASSES)
    class_folders(tmp_path / "data" / "test", {k: 3 for k in CLASSES})
    config = {
        "seed": 3,
        "output_dir": str(tmp_path / "runs"),
        "run_name": "tiny",
        "model": {"name": "gclenet"},
        "data": {"dataset": "folder", "root": str(tmp_path / "data"), "classes": list(CLASSES),
                 "input_size": 32, "batch_size": 4},
        "optim": {"lr": 0.01, "schedule": "cosine", "warmup_epochs": 0.5},
        "trainer": {"max_epochs": 2, "precision": "32-true", "progress_bar": False, "log_every_n_steps": 1,
                    **trainer},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def gclenet(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gclenet", *args], capture_output=True, text=True, **kwargs)


@pytest.mark.slow
def test_train_kill_resume_evaluate(tmp_path):
    config = make_run(tmp_path)
    run = tmp_path / "runs" / "tiny"
    last = run / "checkpoints" / "last.ckpt"
    # A slowed-down first run, killed (SIGKILL) as soon as epoch 0's checkpoint exists.
    proc = subprocess.Popen([sys.executable, "-m", "gclenet", "train", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists(), proc.stderr.read()
    assert torch.load(last, weights_only=True)["epoch"] in (0, 1)

    again = gclenet("train", "--config", str(config))
    assert again.returncode == 2 and "--resume" in again.stderr  # never overwrites a run by accident

    resumed = gclenet("train", "--config", str(config), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 2 * (24 // 4)  # both epochs, not one twice
    assert (run / "config.yaml").is_file()

    out = tmp_path / "eval"
    result = gclenet("evaluate", "--checkpoint", str(run / "checkpoints" / "best.ckpt"), "--dataset", "folder",
                     "--root", str(tmp_path / "data"), "--json", "--out", str(out), "--tta", "flip")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["samples"] == 9 and report["classes"] == list(CLASSES)
    assert sum(map(sum, report["confusion_matrix"])) == 9 and 0.0 <= report["accuracy"] <= 1.0
    assert set(report["per_class"]) == set(CLASSES)
    for png in ("confusion_matrix.png", "confusion_matrix_counts.png", "training_curves.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "report.json").read_text())["accuracy"] == report["accuracy"]
    # The killed run's epochs survive the resume in the logs (and so in the curves).
    from gclenet.training.plots import read_epoch_metrics

    epochs = read_epoch_metrics(run / "logs" / "metrics.csv")
    assert sorted(e for e, m in epochs.items() if "val_acc" in m) == [0, 1]
    timed = [m for m in epochs.values() if "train_epoch_s" in m]
    assert timed and all(m["train_epoch_s"] > 0 for m in timed)
    for m in timed:  # 24 training images per epoch, whatever the speed
        assert m["train_images_per_s"] * m["train_epoch_s"] == pytest.approx(24, rel=1e-3)


@pytest.mark.slow
def test_finetune_own_classes_from_a_checkpoint(tmp_path):
    config = make_run(tmp_path, max_epochs=1)
    assert gclenet("train", "--config", str(config)).returncode == 0
    source = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    class_folders(tmp_path / "own" / "train", {"smile": 6, "frown": 6})
    class_folders(tmp_path / "own" / "test", {"smile": 2, "frown": 2})
    result = gclenet("train", "--config", str(config), "run_name=own", f"model.init_checkpoint={source}",
                     "data.root=" + str(tmp_path / "own"), "data.classes=[smile, frown]")
    assert result.returncode == 0, result.stderr
    assert "head starts fresh" in result.stderr
    tuned = torch.load(tmp_path / "runs" / "own" / "checkpoints" / "last.ckpt", weights_only=True)
    assert tuned["state_dict"]["model.fc.weight"].shape[0] == 2
    assert tuned["hyper_parameters"]["classes"] == ["smile", "frown"]
    # The resumed run takes every weight from its own checkpoint: the init file may be gone.
    source.rename(source.with_name("moved.ckpt"))
    resumed = gclenet("train", "--config", str(config), "run_name=own", f"model.init_checkpoint={source}",
                      "data.root=" + str(tmp_path / "own"), "data.classes=[smile, frown]", "trainer.max_epochs=2",
                      "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert torch.load(tmp_path / "runs" / "own" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="needs the gloo backend")
def test_ddp_two_cpu_processes_split_each_epoch(tmp_path):
    config = make_run(tmp_path, max_epochs=1, strategy="ddp", devices=2, accelerator="cpu")
    with socket.socket() as sock:  # a port free now, not one derived from the pid
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    result = gclenet("train", "--config", str(config), env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt", weights_only=True)
    # 24 images, 2 ranks of 12, batch 4: 3 optimizer steps per epoch (not 6).
    assert ckpt["global_step"] == 24 // 2 // 4
    # Validation counts each of the 9 test images once (a padded split would count one twice):
    # the logged accuracy is that of the saved weights on the 9 images, evaluated in one process.
    from gclenet.training.plots import read_epoch_metrics

    logged = read_epoch_metrics(tmp_path / "runs" / "tiny" / "logs" / "metrics.csv")[0]["val_acc"]
    result = gclenet("evaluate", "--checkpoint", str(tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"),
                     "--dataset", "folder", "--root", str(tmp_path / "data"), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["samples"] == 9 and logged == pytest.approx(report["accuracy"], abs=1e-6)
