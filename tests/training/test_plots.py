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


def test_complexity_plot(tmp_path):
    out = tmp_path / "fig14_15.png"
    assert main(["complexity", "--input-size", "32", "--plot", str(out)]) == 0
    width, height = Image.open(out).size
    assert width > height > 200
