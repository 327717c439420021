import json
import shutil

from gclenet.cli.main import main
from tests.data.layouts import ckplus48, class_folders


def test_clean_split_passes_and_a_leak_fails(tmp_path, capsys):
    class_folders(tmp_path / "train", {"happy": 3, "sad": 2}, prefix="tr")
    (tmp_path / "test" / "happy").mkdir(parents=True)
    for i in range(2):  # test images that differ from every training image
        from tests.data.layouts import write_image

        write_image(tmp_path / "test" / "happy" / f"te_{i}.jpg", value=100 + i)
    assert main(["data", "check", "--dataset", "folder", "--root", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["leak"] is False and report["imbalance_ratio"] == 1.5
    shutil.copy(tmp_path / "train" / "sad" / "tr_0000.jpg", tmp_path / "test" / "happy" / "copy.jpg")
    (tmp_path / "train" / "sad" / "broken.jpg").write_text("x")
    assert main(["data", "check", "--dataset", "folder", "--root", str(tmp_path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["leak"] is True and len(report["duplicates_across_splits"]) == 1
    assert any("broken.jpg" in line for line in report["unreadable"])


def test_ckplus_subject_overlap_is_a_leak(tmp_path, capsys):
    root = ckplus48(tmp_path, subjects=5, per_class=1)
    args = ["data", "check", "--dataset", "ckplus", "--root", str(root), "--json", "--option", "folds=5"]
    assert main(args + ["--option", "protocol=subject"]) == 0
    capsys.readouterr()
    code = main(args + ["--option", "protocol=image"])
    report = json.loads(capsys.readouterr().out)
    assert report["subjects_in_both_splits"] and code == 1
