"""``gclenet finetune``: trained weights on your own classes in one command; the shipped configs work as shipped."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gclenet.models import SHIPPED_WEIGHTS, read_weights_info
from gclenet.training.config import load_config
from gclenet.training.datamodule import select_samples
from gclenet.training.finetune import finetune_config
from tests.data.layouts import ckplus48, class_folders

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))


def shipped_weights_or_skip() -> None:
    try:
        read_weights_info("default")
    except FileNotFoundError:
        pytest.skip("no shipped weights in this checkout")


@pytest.mark.slow
def test_shipped_weights_on_three_classes_of_ones_own_in_one_command(tmp_path):
    shipped_weights_or_skip()
    own = class_folders(tmp_path / "own", {"grin": 8, "frown": 8, "blank": 8}, mode="RGB")
    run = tmp_path / "runs" / "own"
    result = subprocess.run([sys.executable, "-m", "gclenet", "finetune", "--data", str(own), "--epochs", "1",
                             "--out", str(run)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    best = Path(result.stdout.strip().splitlines()[-1])
    assert best == run / "checkpoints" / "best.ckpt" and best.is_file()

    from gclenet.inference.recognizer import Recognizer

    recognizer = Recognizer(best, detector="none")
    info = read_weights_info(best)
    shipped = read_weights_info("default")
    assert info.classes == ("blank", "frown", "grin")  # the folders, in order; the head replaced
    assert (info.input_size, info.grayscale, info.mean, info.std) == (
        shipped.input_size, shipped.grayscale, shipped.mean, shipped.std)  # taken from the weights
    (face,) = recognizer.predict(np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8))
    assert face.label in info.classes and set(face.probs) == set(info.classes)
    assert "gclenet predict PHOTO --weights" in result.stderr


def test_a_named_data_set_gives_the_classes_it_has_images_of_and_a_subject_wise_holdout(random_weights, tmp_path):
    root = ckplus48(tmp_path / "CK+48", subjects=10)  # CK+48 has no neutral
    config = finetune_config("ckplus", root=str(root), weights=str(random_weights), out=str(tmp_path / "runs" / "ck"))
    data = config.data
    assert data.classes == ["angry", "disgust", "fear", "happy", "sad", "surprise", "contempt"]
    assert (data.train_split, data.val_split, data.holdout_fraction) == ("train", "test", 0.2)
    assert (data.input_size, data.grayscale) == (48, True) and config.model.init_checkpoint == str(random_weights)
    assert (config.output_dir, config.run_name) == (str(tmp_path / "runs"), "ck")
    train = select_samples(data, data.classes, seed=config.seed, train=True)
    held_out = select_samples(data, data.classes, seed=config.seed, train=False)
    assert train and held_out and not {s.subject for s in train} & {s.subject for s in held_out}
    test_fold = {s.subject for s in select_samples(load_config(overrides=[
        "data.dataset=ckplus", f"data.root={root}", "data.val_split=test"]).data, data.classes, seed=0, train=False)}
    assert not test_fold & {s.subject for s in train + held_out}  # fold 0 stays unseen for evaluate


def test_a_folder_layout_and_what_is_refused(random_weights, tmp_path):
    split = tmp_path / "split"
    class_folders(split / "train", {"Happy": 3, "sad": 3})
    class_folders(split / "test", {"Happy": 1, "sad": 1})
    config = finetune_config(str(split), weights=str(random_weights))
    assert (config.data.dataset, config.data.train_split, config.data.val_split) == ("folder", "train", "test")
    assert config.data.classes == ["happy", "sad"] and config.run_name == "finetune_split"
    class_folders(tmp_path / "one", {"smile": 3})
    with pytest.raises(FileNotFoundError, match="two or more"):
        finetune_config(str(tmp_path / "one"), weights=str(random_weights))
    with pytest.raises(ValueError, match="neither a folder nor a data set"):
        finetune_config(str(tmp_path / "nowhere"), weights=str(random_weights))
    with pytest.raises(ValueError, match="--root"):
        finetune_config("rafdb", weights=str(random_weights))


def test_the_command_has_the_functions_defaults():
    from gclenet.cli.main import build_parser

    args = build_parser().parse_args(["finetune", "--data", "x"])
    defaults = {name: p.default for name, p in inspect.signature(finetune_config).parameters.items()
                if p.default is not inspect.Parameter.empty}
    for name in ("weights", "epochs", "lr", "batch_size", "holdout", "seed"):
        assert getattr(args, name) == defaults[name], name


def test_the_shipped_ckplus_config_is_what_the_command_runs(tmp_path):
    shipped_weights_or_skip()
    root = ckplus48(tmp_path / "CK+48")
    shipped = load_config(ROOT / "configs" / "ckplus_finetune.yaml", [f"data.root={root}"])
    command = finetune_config("ckplus", root=str(root), weights="fer2013", out="runs/ckplus_finetune")
    assert shipped.to_dict() == command.to_dict()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_every_shipped_config_starts_from_weights_that_exist_or_says_which_run_makes_them(path):
    """The starting weights and the distillation teachers of every config: shipped ones (with the
    input they were trained for), a shipped config's run (the header names the config), or a file
    taken from git history by a ``git show REV:PATH > FILE`` line in the header (REV:PATH exists)."""
    config = load_config(path)
    for source in [config.model.init_checkpoint, *config.optim.distill_from]:
        if source is not None:
            _check_weights_source(path, config, source)


def _check_weights_source(path: Path, config, source: str) -> None:
    header = path.read_text()
    if source == "default" or source in SHIPPED_WEIGHTS:  # then input as the weights were trained
        shipped_weights_or_skip()
        info = read_weights_info(source)
        data = config.data
        assert data.decode_grayscale() == info.grayscale
        if data.input_size != info.input_size:  # a cycle at another resolution must mean it
            assert f"{info.input_size} -> {data.input_size} px" in header, \
                f"{path.name}: input {data.input_size} px, its weights {info.input_size} px; say why in its header"
        assert tuple(data.mean or info.mean) == info.mean and tuple(data.std or info.std) == info.std
        return
    from_git = re.search(rf"git show (\w+):(\S+) > {re.escape(source)}", header)
    if from_git:
        found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{from_git[1]}:{from_git[2]}"],
                               capture_output=True)
        if found.returncode != 0 and (ROOT / ".git").exists():
            pytest.fail(f"{path.name}: {from_git[1]}:{from_git[2]} is not in this repository's history")
        return
    makers = [other for other in CONFIGS if str(load_config(other).run_dir / "checkpoints") in source]
    assert makers, f"{path.name}: {source} is made by no shipped config and no git show line in its header"
    assert all(str(m.relative_to(ROOT)) in header for m in makers), f"{path.name} does not say it needs {makers}"


@pytest.fixture(scope="module")
def flat_folder_run(random_weights, tmp_path_factory):
    """``gclenet finetune`` as docs/TRAINING.md shows it, on a flat ``<class>/`` folder (two short
    epochs from random weights), in a process of its own as a user runs it."""
    tmp = tmp_path_factory.mktemp("flat")
    own = class_folders(tmp / "my_faces", {"happy": 20, "sad": 20})
    run = tmp / "runs" / "mine"
    result = subprocess.run([sys.executable, "-m", "gclenet", "finetune", "--data", str(own), "--weights",
                             str(random_weights), "--epochs", "2", "--out", str(run)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return run / "checkpoints" / "best.ckpt", result


def test_evaluate_after_finetune_on_a_flat_folder_scores_the_held_out_images(flat_folder_run, capsys):
    import json

    from gclenet.cli.main import main
    from gclenet.training.splits import evaluation_samples, evaluation_split

    best, _ = flat_folder_run
    assert main(["evaluate", "--checkpoint", str(best), "--json"]) == 0  # no options
    report = json.loads(capsys.readouterr().out)
    config = load_config(best.parent.parent / "config.yaml")
    held_out = select_samples(config.data, config.data.classes, seed=config.seed, train=False)
    trained = select_samples(config.data, config.data.classes, seed=config.seed, train=True)
    assert report["samples"] == len(held_out) == 8 and report["held_out"] == 0.2
    assert report["overlap"]["checked"] and report["overlap"]["images"] == 0
    info = read_weights_info(best)
    scored = evaluation_samples(info, evaluation_split(info))
    assert [s.source for s in scored] == [s.source for s in held_out]  # exactly what the run validated on
    assert not {s.source for s in scored} & {s.source for s in trained}
    assert main(["evaluate", "--checkpoint", str(best), "--split", "held-out", "--json"]) == 0  # also by name
    assert json.loads(capsys.readouterr().out)["samples"] == 8


def test_a_finetunes_output_says_each_event_once_without_third_party_warnings(flat_folder_run):
    _, result = flat_folder_run
    lines = [line.strip() for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), lines  # no event twice (Lightning's handler and ours both printed)
    text = "\n".join(lines)
    for noise in ("litlogger", "Warning", "deprecated", "logging interval", ".py:"):
        assert noise not in text, noise
    assert "INFO GPU available" in text and text.count("GPU available") == 1
    assert "the head starts fresh" in text and "UserWarning" not in text  # an expected event, as an info line
    assert "Epoch 2/2" in result.stdout and "Epoch 1/1" not in result.stdout  # epochs counted from 1
