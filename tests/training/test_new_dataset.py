"""Adding a data set is one reader with ``@register_dataset``: the worked example of
docs/ARCHITECTURE.md ("Add a data set"), run as it stands there, is listed, trains one
batch through the CLI and evaluates without repeated options."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from gclenet.cli.main import main
from gclenet.data import registry
from tests.data.layouts import write_image

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"


def register_the_documented_reader() -> None:
    """Run the example file of ARCHITECTURE.md's "Add a data set" section."""
    section = ARCHITECTURE.read_text().split("## Add a data set", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, f"{ARCHITECTURE} (Add a data set)", "exec"), {"__name__": "toy"})


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy data set registered for this test only, and its files."""
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))
    register_the_documented_reader()
    root = tmp_path / "toy"
    for split, count in (("train", 8), ("test", 4)):
        lines = []
        for i in range(count):
            name = f"{split}{i}_{i % 3}.png"
            write_image(root / name, value=i, size=20)
            lines.append(f"{name} {('happy', 'sad', 'neutral')[i % 3]}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_a_registered_reader_is_listed_and_trains_one_batch_through_the_cli(toy, tmp_path, capsys):
    assert main(["data", "list", "--json"]) == 0
    assert "toy" in {d["name"] for d in json.loads(capsys.readouterr().out)}
    config = {"output_dir": str(tmp_path / "runs"), "run_name": "toy", "model": {"name": "resnet34"},
              "data": {"dataset": "toy", "root": str(toy), "classes": ["happy", "sad", "neutral"],
                       "input_size": 16, "batch_size": 4},
              "trainer": {"max_epochs": 1, "limit_train_batches": 1, "precision": "32-true", "progress_bar": False}}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(tmp_path / "toy.yaml")]) == 0
    capsys.readouterr()
    checkpoint = tmp_path / "runs" / "toy" / "checkpoints" / "last.ckpt"
    # evaluated on the split it was validated on, with its own data options: nothing repeated
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["dataset"], report["split"], report["samples"]) == ("toy", "test", 4)
    assert report["overlap"]["checked"] and report["overlap"]["images"] == 0
