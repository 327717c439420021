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
