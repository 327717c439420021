"""Adding a data set is one reader with ``@register_dataset``: it trains through the CLI at once
(the worked example of docs/ARCHITECTURE.md, "Add a data set")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from gclenet.cli.main import main
from gclenet.data import BASIC_CLASSES, DatasetLayoutError, Sample, register_dataset
from gclenet.data import registry
from tests.data.layouts import write_image


def read_toy(root: Path, split: str, classes: Sequence[str]) -> list[Sample]:
    """``<root>/<split>.txt``: one ``<image file> <class name>`` per line."""
    listing = root / f"{split}.txt"
    if not listing.is_file():
        raise DatasetLayoutError(f"{listing}: missing; expected <root>/<split>.txt")
    wanted = {name: i for i, name in enumerate(classes)}
    samples = []
    for line in listing.read_text().splitlines():
        file, label = line.split()
        if label in wanted:
            samples.append(Sample(root / file, wanted[label], subject=file.split("_")[0]))
    return samples


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy data set registered for this test only, and its files."""
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))
    register_dataset("toy", classes=BASIC_CLASSES, grayscale=True, layout="<root>/<split>.txt")(read_toy)
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
