"""`gclenet data summary` (counts after mapping, unreadable files named) and `predict --webcam` without a display."""

import json

import pytest

from gclenet.cli.main import main
from tests.data.layouts import class_folders, fer2013_csv


def test_summary_counts_and_names_the_corrupt_file(tmp_path, capsys):
    root = tmp_path / "fer"
    class_folders(root / "train", {"angry": 3, "happy": 2})
    class_folders(root / "val", {"angry": 1, "happy": 1, "neutral": 2})
    (root / "train" / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    assert main(["data", "summary", "--dataset", "fer2013", "--root", str(root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "fer2013"
    assert list(summary["splits"]) == ["train", "val"]  # the folder layout's val/ (PublicTest) serves as test
    train, test = summary["splits"]["train"], summary["splits"]["val"]
    assert (train["angry"], train["happy"], train["neutral"]) == (3, 2, 0)  # the broken file is not counted
    assert (test["angry"], test["happy"], test["neutral"]) == (1, 1, 2)
    assert len(summary["unreadable"]) == 1 and "broken.jpg" in summary["unreadable"][0]

    assert main(["data", "summary", "--dataset", "fer2013", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "unreadable:" in text and "broken.jpg" in text


def test_summary_of_the_original_csv_with_equal_public_and_private_tests(tmp_path, capsys):
    rows = [(3, "Training"), (3, "Training"), (0, "Training"), (3, "PublicTest"), (6, "PrivateTest")]
    fer2013_csv(tmp_path, rows)
    assert main(["data", "summary", "--dataset", "fer2013", "--root", str(tmp_path), "--json"]) == 0
    splits = json.loads(capsys.readouterr().out)["splits"]
    assert splits["train"]["happy"] == 2 and splits["train"]["angry"] == 1
    tests = [s for s in splits if s != "train"]
    assert len(tests) == 2  # PublicTest and PrivateTest are different images, though equally many
    assert sorted(splits[s]["happy"] + splits[s]["neutral"] for s in tests) == [1, 1]


def test_summary_and_check_take_class_lists_as_training_does(tmp_path, capsys):
    class_folders(tmp_path / "train", {"angry": 2, "happy": 1, "smile": 3, "frown": 1})
    class_folders(tmp_path / "test", {"angry": 1, "smile": 1, "frown": 1}, prefix="t")
    assert main(["data", "summary", "--dataset", "folder", "--root", str(tmp_path), "--classes", "Anger", "Happiness",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["train"] == {"angry": 2, "happy": 1}
    # (the generated images are all alike, so check also reports a train/test leak and exits 1)
    main(["data", "check", "--dataset", "folder", "--root", str(tmp_path), "--classes", "smile", "frown", "--json"])
    assert json.loads(capsys.readouterr().out)["counts"]["train"] == {"smile": 3, "frown": 1}
    # a flat <class>/ tree (FED-RO as distributed) is summarised as the split "all"
    assert main(["data", "summary", "--dataset", "fed_ro", "--root", str(tmp_path / "train"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"] == {"all": {"angry": 2, "disgust": 0, "fear": 0, "happy": 1,
                                                                     "sad": 0, "surprise": 0, "neutral": 0}}


def test_summary_of_a_wrong_layout_is_one_line_and_fails(tmp_path, capsys):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"")
    assert main(["data", "summary", "--dataset", "fer2013", "--root", str(tmp_path / "flat")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "flat") in err


def test_webcam_without_a_display_exits_cleanly(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    assert main(["predict", "--webcam", "0"]) == 0
    assert "needs a display" in capsys.readouterr().err


@pytest.mark.slow
def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    import subprocess
    import sys

    class_folders(tmp_path / "train", {"angry": 2})
    run = subprocess.run(f"{sys.executable} -m gclenet data summary --dataset folder --root {tmp_path} "
                         "--classes angry happy --json | head -c 1", shell=True, capture_output=True, text=True)
    assert run.stdout == "{" and "Traceback" not in run.stderr
