"""evaluate_checkpoint on exported weights: metrics consistent, bf16 autocast close to fp32."""

import pytest

from gclenet.training.evaluate import evaluate_checkpoint
from tests.data.layouts import class_folders


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return class_folders(tmp_path_factory.mktemp("faces") / "test", {"happy": 4, "sad": 3, "neutral": 5}).parent


def test_fp32_report_counts_every_image(random_weights, faces):
    report = evaluate_checkpoint(random_weights, "folder", faces, split="test", progress=False)
    assert report["samples"] == 12 and report["precision"] == "fp32"
    assert sum(map(sum, report["confusion_matrix"])) == 12
    assert [report["per_class"][c]["support"] for c in ("happy", "sad", "neutral")] == [4, 3, 5]


def test_bf16_autocast_is_recorded_and_close_to_fp32(random_weights, faces):
    fp32 = evaluate_checkpoint(random_weights, "folder", faces, split="test", progress=False)
    bf16 = evaluate_checkpoint(random_weights, "folder", faces, split="test", progress=False, precision="bf16")
    assert bf16["precision"] == "bf16" and bf16["samples"] == 12
    # Only the rounding differs: with 12 images at most a couple of near-ties may flip.
    assert abs(bf16["accuracy"] - fp32["accuracy"]) <= 2 / 12


def test_unknown_precision_is_refused(random_weights, faces):
    with pytest.raises(ValueError, match="precision"):
        evaluate_checkpoint(random_weights, "folder", faces, split="test", progress=False, precision="fp8")


def test_mean_class_accuracy_is_over_the_classes_the_split_has():
    import torch

    from gclenet.training.evaluate import classification_report

    labels = torch.tensor([0, 0, 1, 1])
    probs = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 2]), 7).float()  # class 2 predicted, never true
    report = classification_report(probs, labels, [f"c{i}" for i in range(7)])
    assert report["accuracy"] == 0.75 and report["mean_class_accuracy"] == 0.75  # (1 + 0.5) / 2, not / 3

    # the same number is logged during training (as val_mean_class_acc), batch by batch
    from gclenet.training.module import MeanClassAccuracy

    metric = MeanClassAccuracy(7)
    metric.update(probs[:2], labels[:2])
    metric.update(probs[2:], labels[2:])
    assert float(metric.compute()) == 0.75


def test_a_grayscale_model_sees_colour_faces_as_the_recognizer_shows_them(random_weights, tmp_path):
    import numpy as np
    from PIL import Image

    from gclenet.inference.recognizer import Recognizer
    from gclenet.training.evaluate import predict_checkpoint

    folder = tmp_path / "test" / "happy"
    folder.mkdir(parents=True)
    paths = []
    for i, (height, width) in enumerate([(48, 48), (48, 48), (64, 40)]):  # and a non-square crop
        paths.append(folder / f"colour_{i}.png")
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(paths[-1])
    probs, _, classes, _ = predict_checkpoint(random_weights, "folder", tmp_path, split="test", progress=False)
    recognizer = Recognizer(random_weights, detector="none", precision="fp32")
    expected = [[faces[0].probs[c] for c in classes] for faces in recognizer.predict_batch(paths)]
    np.testing.assert_allclose(probs.numpy(), expected, atol=1e-4)


def test_evaluation_outputs_stand_without_a_finished_epoch_in_the_log(tmp_path, capsys):
    import torch

    from gclenet.cli.evaluation import write_evaluation
    from gclenet.training.evaluate import classification_report

    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    (run / "logs" / "metrics.csv").write_text("epoch,step,train_loss_step\n0,1,1.9\n0,2,1.8\n")  # killed in epoch 1
    labels = torch.tensor([0, 1, 1])
    report = classification_report(torch.eye(2)[[0, 1, 0]], labels, ["a", "b"]) | {"dataset": "folder", "split": "test"}
    write_evaluation(report, tmp_path / "out", run / "checkpoints" / "last.ckpt")
    assert (tmp_path / "out" / "report.json").is_file() and (tmp_path / "out" / "confusion_matrix.png").is_file()
    assert not (tmp_path / "out" / "training_curves.png").exists()
    assert "no training curves" in capsys.readouterr().err


def test_recognizer_evaluate_and_validation_preprocess_with_one_transform(random_weights, tmp_path):
    import numpy as np
    import torch
    from PIL import Image

    from gclenet.data import FERDataset, load_image, read_split
    from gclenet.inference.recognizer import Recognizer
    from gclenet.training.config import DataConfig
    from gclenet.training.datamodule import FERDataModule

    # A 100x100 colour face: shrunk to 48 px, PIL's resize (the Recognizer's before) and
    # torchvision's (evaluate's) differed by a gray level on 1 % of the pixels.
    path = tmp_path / "test" / "happy" / "face.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(path)
    recognizer = Recognizer(random_weights, detector="none", precision="fp32")
    shown = recognizer.preprocess([np.asarray(load_image(path, "RGB"))])[0]
    samples = read_split("folder", tmp_path, "test", recognizer.classes)
    evaluated = FERDataset(samples, recognizer.classes, recognizer.info.transforms(), grayscale=True)[0][0]
    datamodule = FERDataModule(DataConfig(dataset="folder", root=str(tmp_path), input_size=48),
                               transform=recognizer.info.transforms())
    datamodule.setup("validate")
    assert torch.equal(shown, evaluated) and torch.equal(shown, datamodule.val_set[0][0])
