"""Data sets register themselves beside their readers; the mix is one of them; the CLI lists them."""

import json

import pytest

from gclenet.data import BASIC_CLASSES, get_dataset_spec, list_datasets, read_split, register_dataset
from gclenet.data import registry
from tests.data.layouts import class_folders, fer2013_csv

SHIPPED = {"affectnet", "caer_s", "ckplus", "fed_ro", "fer2013", "ferplus", "folder", "mix", "rafdb"}


def test_every_reader_file_registers_its_data_sets():
    assert SHIPPED <= set(list_datasets())
    assert get_dataset_spec("fer2013").grayscale and not get_dataset_spec("rafdb").grayscale
    assert get_dataset_spec("ferplus").splits == ("train", "val", "test")
    with pytest.raises(KeyError, match="valid: affectnet"):
        get_dataset_spec("fer2031")


def test_a_name_is_registered_once(monkeypatch):
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))
    with pytest.raises(ValueError, match="registered twice"):
        register_dataset("fer2013", classes=BASIC_CLASSES, grayscale=True, layout="x")(lambda *a: [])


def test_the_mix_is_a_reader_of_parts(tmp_path):
    class_folders(tmp_path / "a" / "train", {"happy": 2, "sad": 1})
    class_folders(tmp_path / "a" / "test", {"happy": 1})
    fer2013_csv(tmp_path / "b", [(3, "Training"), (0, "PublicTest")])
    parts = [{"dataset": "folder", "root": str(tmp_path / "a")},
             {"dataset": "fer2013", "root": str(tmp_path / "b"), "val_split": "val"}]
    train = read_split("mix", tmp_path, "train", BASIC_CLASSES, parts=parts)
    test = read_split("mix", tmp_path, "test", BASIC_CLASSES, parts=parts)
    assert len(train) == 4 and len(test) == 2
    assert sorted(BASIC_CLASSES[s.label] for s in test) == ["angry", "happy"]
    with pytest.raises(ValueError, match="needs data.parts"):
        read_split("mix", tmp_path, "train")


def test_pixels_read_from_a_csv_say_which_row_they_are(tmp_path):
    fer2013_csv(tmp_path, [(3, "Training"), (3, "Training")])  # two rows of the same pixels
    first, second = read_split("fer2013", tmp_path, "train")
    assert (first.origin, second.origin) == (f"{tmp_path / 'fer2013.csv'}:2", f"{tmp_path / 'fer2013.csv'}:3")


def test_checkpoints_from_before_the_record_read_gray_as_the_registry_says():
    from gclenet.models.weights import _GRAY_BEFORE_THE_RECORD

    # the data sets of gclenet 0.1 (the frozen table old checkpoints are read by)
    for name in ("affectnet", "caer_s", "ckplus", "fed_ro", "fer2013", "ferplus", "folder", "rafdb"):
        assert (name in _GRAY_BEFORE_THE_RECORD) == get_dataset_spec(name).grayscale, name


def test_data_list_and_help_name_what_is_registered(capsys):
    from gclenet.cli.main import build_parser, main

    assert main(["data", "list", "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(list_datasets()) and listed["ckplus"]["classes"][-1] == "contempt"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--help"])
    assert "fer2013, ferplus" in " ".join(capsys.readouterr().out.split())
