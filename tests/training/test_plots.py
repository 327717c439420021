"""Result pictures: run comparison (`gclenet curves`) and parameters/MACs bars (`complexity --plot`)."""

import numpy as np
from PIL import Image

from gclenet.cli.main import main


def write_metrics(path, val_acc):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["epoch,step,train_loss_epoch,val_acc,val_loss"]
    rows += [f"{e},{10 * (e + 1)},{2.0 - 0.1 * e},{acc},{1.9 - 0.1 * e}" for e, acc in enumerate(val_acc)]
    path.write_text("\n".join(rows) + "\n")


def test_curves_of_two_runs_and_a_missing_one(tmp_path, capsys):
    write_metrics(tmp_path / "a" / "logs" / "metrics.csv", [0.3, 0.4, 0.5])
    write_metrics(tmp_path / "b.csv", [0.2, 0.45])
    out = tmp_path / "curves.png"
    assert main(["curves", str(tmp_path / "a"), str(tmp_path / "b.csv"), "--names", "gclenet", "resnet34",
                 "--out", str(out)]) == 0
    assert np.asarray(Image.open(out)).std() > 10
    assert main(["curves", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]) != 0
    assert "no metrics.csv" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    # two runs of one name (exp1/run, exp2/run) are not drawn as one
    for exp in ("exp1", "exp2"):
        write_metrics(tmp_path / exp / "run" / "logs" / "metrics.csv", [0.3, 0.4])
    assert main(["curves", str(tmp_path / "exp1" / "run"), str(tmp_path / "exp2" / "run"), "--out", str(out)]) == 2
    assert "different names" in capsys.readouterr().err
    # an output path that is a folder: one line, no traceback
    assert main(["curves", str(tmp_path / "a"), "--out", str(tmp_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_curves_chain_a_continuation_after_its_run(tmp_path):
    from gclenet.training.plots import chain_epoch_metrics

    write_metrics(tmp_path / "first" / "logs" / "metrics.csv", [0.3, 0.4, 0.5])
    write_metrics(tmp_path / "second" / "logs" / "metrics.csv", [0.45, 0.55])
    files = [tmp_path / "first" / "logs" / "metrics.csv", tmp_path / "second" / "logs" / "metrics.csv"]
    epochs, starts = chain_epoch_metrics(files)
    assert [epochs[e]["val_acc"] for e in sorted(epochs)] == [0.3, 0.4, 0.5, 0.45, 0.55] and starts == [3]
    one, both = tmp_path / "one.png", tmp_path / "both.png"
    assert main(["curves", str(tmp_path / "first"), "--out", str(one)]) == 0
    assert main(["curves", f"{tmp_path / 'first'}+{tmp_path / 'second'}", "--out", str(both)]) == 0
    assert np.asarray(Image.open(both)).std() > 10 and Image.open(both).tobytes() != Image.open(one).tobytes()
    assert main(["curves", f"{tmp_path / 'first'}+{tmp_path / 'nope'}", "--out", str(tmp_path / "x.png")]) != 0
    assert not (tmp_path / "x.png").exists()


def test_curves_summarise_each_run(tmp_path, capsys):
    import json

    first = tmp_path / "first" / "logs" / "metrics.csv"
    first.parent.mkdir(parents=True)
    rows = ["epoch,step,train_loss_step,train_loss_epoch,val_acc"]
    rows += [f"{e},{10 * (e + 1)},,{2.0 - 0.1 * e},{acc}" for e, acc in enumerate([0.3, 0.5, 0.4])]
    rows += ["3,35,1.5,,", "3,36,1.4,,"]  # killed during its epoch 4: a continuation starts after epoch 3
    first.write_text("\n".join(rows) + "\n")
    timed = tmp_path / "second" / "logs" / "metrics.csv"
    timed.parent.mkdir(parents=True)
    rows = ["epoch,step,train_epoch_s,train_images_per_s,val_acc,train_loss_step"]
    rows += [f"{e},{10 * (e + 1)},{s},{1000 / s},{acc}," for e, (s, acc) in enumerate([(100, 0.45), (900, 0.55), (110, 0.6)])]
    rows.append("3,35,,,,1.2")  # an epoch in progress (step rows only) is not counted
    timed.write_text("\n".join(rows) + "\n")
    out = tmp_path / "c.png"
    assert main(["curves", f"{tmp_path / 'first'}+{tmp_path / 'second'}", str(tmp_path / "first"),
                 "--names", "chained", "alone", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    chained, alone = summary["chained"], summary["alone"]
    assert chained["epochs"] == 6 and chained["cycle_starts"] == [4]
    assert chained["final_val_acc"] == 0.6 and chained["best_epoch"] == 6
    # the median ignores the one epoch that was paused (900 s); untimed epochs are not counted
    assert chained["epochs_timed"] == 3 and chained["median_train_epoch_s"] == 110
    assert abs(chained["median_train_images_per_s"] - 1000 / 110) < 1e-9
    assert alone["best_val_acc"] == 0.5 and alone["best_epoch"] == 2 and alone["final_val_acc"] == 0.4
    assert alone["median_train_epoch_s"] is None
    assert main(["curves", str(tmp_path / "first"), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "40.00%" in table and "50.00% (2)" in table


def test_complexity_plot(tmp_path):
    out = tmp_path / "fig14_15.png"
    assert main(["complexity", "--input-size", "32", "--plot", str(out)]) == 0
    width, height = Image.open(out).size
    assert width > height > 200
