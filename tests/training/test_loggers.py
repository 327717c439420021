"""The run's metrics.csv survives resumes, a kill mid-append and a failure mid-rewrite."""

from __future__ import annotations

import csv

import pytest

from gclenet.training import loggers
from gclenet.training.loggers import ResumableCSVLogger


def log(root, rows: list[dict]) -> None:
    logger = ResumableCSVLogger(str(root), name="logs", version="")
    for step, metrics in enumerate(rows):
        logger.log_metrics(metrics, step=step)
    logger.save()


def read(root) -> list[dict]:
    with open(root / "logs" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_resumed_logger_appends_and_widens_the_header(tmp_path):
    log(tmp_path, [{"val_acc": 0.5}])
    log(tmp_path, [{"val_acc": 0.6, "train_epoch_s": 12.0}])
    rows = read(tmp_path)
    assert [r["val_acc"] for r in rows] == ["0.5", "0.6"]
    assert [r["train_epoch_s"] for r in rows] == ["", "12.0"]


def test_a_line_cut_by_a_kill_is_dropped_on_resume(tmp_path):
    log(tmp_path, [{"val_acc": 0.5}, {"val_acc": 0.55}])
    path = tmp_path / "logs" / "metrics.csv"
    path.write_bytes(path.read_bytes()[:-3])  # the kill landed inside the last row
    log(tmp_path, [{"val_acc": 0.7}])
    assert [r["val_acc"] for r in read(tmp_path)] == ["0.5", "0.7"]


def test_a_failed_header_rewrite_leaves_the_old_file_whole(tmp_path, monkeypatch):
    log(tmp_path, [{"val_acc": 0.5}, {"val_acc": 0.55}])
    before = (tmp_path / "logs" / "metrics.csv").read_bytes()

    real_write = loggers.atomic_write_bytes

    def dies_midway(path, write):
        def half(handle):
            handle.write(b"train_epoch_s,va")
            raise KeyboardInterrupt  # stands in for the process dying while it writes

        real_write(path, half)

    monkeypatch.setattr(loggers, "atomic_write_bytes", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        log(tmp_path, [{"val_acc": 0.6, "train_epoch_s": 12.0}])
    assert (tmp_path / "logs" / "metrics.csv").read_bytes() == before


@pytest.mark.slow
def test_rows_a_killed_run_logged_after_its_checkpoint_are_not_kept_twice(tmp_path):
    from gclenet.cli.main import main
    from tests.training.test_train_cli import make_run

    config = make_run(tmp_path, max_epochs=1)  # 24 images, batch 4: 6 steps an epoch
    metrics = tmp_path / "runs" / "tiny" / "logs" / "metrics.csv"
    metrics.parent.mkdir(parents=True)  # a run killed before its first checkpoint, started again afresh
    metrics.write_text("epoch,step,train_loss_step\n0,0,555.0\n0,1,555.0\n")
    assert main(["train", "--config", str(config)]) == 0
    assert "555.0" not in metrics.read_text()
    with open(metrics, newline="") as handle:
        header = next(csv.reader(handle))
    with open(metrics, "a", newline="") as handle:  # what a run killed during epoch 1 had logged
        writer = csv.DictWriter(handle, fieldnames=header)
        for step in (6, 7, 8):
            writer.writerow({"epoch": 1, "step": step, "train_loss_step": 999.0})
    assert main(["train", "--config", str(config), "--resume", "trainer.max_epochs=2"]) == 0
    with open(metrics, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert not any(row["train_loss_step"] == "999.0" for row in rows)
    steps = [(row["step"], row["train_loss_step"]) for row in rows if row["train_loss_step"]]
    assert len(steps) == len(set(steps)) == 12  # every step of both epochs, once
    assert sum(1 for row in rows if row["val_acc"]) == 2
