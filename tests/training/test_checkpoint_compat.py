"""Checkpoints written before they carried the weights' record still load, evaluate and resume.

Runs started with gclenet 0.1 (e.g. commit 8b4303a) are resumed by this code. Their
checkpoints have the top-level keys of a checkpoint written now (epoch, global_step,
state_dict with ``model.*`` keys, loops, callbacks, optimizer_states, lr_schedulers,
``FERDataModule`` = ``{"next_epoch": N}``, hparams_name ``"kwargs"``) but hyper-parameters
``{"config", "classes"}`` only; this test makes one by dropping the record.
"""

from __future__ import annotations

import json

import pytest
import torch

from gclenet.cli.main import main
from gclenet.models import load
from tests.training.test_train_cli import make_run


@pytest.mark.slow
def test_a_checkpoint_without_the_record_loads_evaluates_and_resumes(tmp_path, capsys):
    config = make_run(tmp_path, max_epochs=1)
    overrides = ["data.dataset=fer2013"]  # FER2013's folder layout: a gray data set
    assert main(["train", "--config", str(config), *overrides]) == 0
    last = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    new = torch.load(last, weights_only=True)
    old = {**new, "hparams_name": "kwargs",
           "hyper_parameters": {k: new["hyper_parameters"][k] for k in ("config", "classes")}}
    torch.save(old, last)

    model, info = load(last)
    assert (info.model_name, info.classes, info.input_size, info.grayscale) == (
        "gclenet", ("angry", "happy", "neutral"), 32, True)
    assert info.data["dataset"] == "fer2013" and info.data["seed"] == 3 and info.recipe["run_name"] == "tiny"
    reference, _ = load(tmp_path / "runs" / "tiny" / "checkpoints" / "best.ckpt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))

    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(last), "--json"]) == 0  # data options from the old config
    report = json.loads(capsys.readouterr().out)
    assert (report["dataset"], report["split"], report["samples"], report["overlap"]["images"]) == (
        "fer2013", "test", 9, 0)

    assert main(["train", "--config", str(config), *overrides, "trainer.max_epochs=2", "--resume"]) == 0
    resumed = torch.load(last, weights_only=True)
    assert resumed["global_step"] == 2 * new["global_step"] and resumed["FERDataModule"] == {"next_epoch": 2}
    assert resumed["hyper_parameters"]["weights_info"]["grayscale"] is True  # written again from here on
