"""FER+: both layouts, the FER+ script's vote processing in its four label modes, bad rows."""

import numpy as np
import pytest
import torch

from gclenet.data.classes import BASIC_CLASSES, CANONICAL_CLASSES
from gclenet.data.dataset import FERDataset
from gclenet.data.datasets.ferplus import process_votes
from gclenet.data.folders import DatasetLayoutError
from gclenet.data.registry import read_split
from tests.data.layouts import ferplus_csv_pair, ferplus_folders

#       neutral happy surprise sad angry disgust fear contempt unknown NF
HAPPY = [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]
SPLIT = [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]  # neutral 4, anger 3, disgust 2 (sad's one vote is noise)
TIED = [5, 0, 5, 0, 0, 0, 0, 0, 0, 0]  # no majority
UNKNOWN = [2, 0, 0, 0, 0, 0, 0, 0, 8, 0]
NOT_A_FACE = [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]
CONTEMPT = [2, 0, 0, 0, 0, 0, 0, 8, 0, 0]


def canonical(target):
    return dict(zip(CANONICAL_CLASSES, np.round(target, 4)))


def test_single_votes_are_noise_and_majority_needs_more_than_half():
    assert process_votes([6, 1, 1, 1, 1, 0, 0, 0, 0, 0], "majority") is not None  # 6 of 6 after the noise goes
    assert process_votes([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], "majority") is None  # 4 of 9: no majority
    assert process_votes(TIED, "majority") is None
    assert process_votes(UNKNOWN, "majority") is None and process_votes(NOT_A_FACE, "crossentropy") is None


def test_crossentropy_keeps_the_top_classes_up_to_three_quarters_of_the_votes():
    # FER+ order: neutral 4/7, anger 3/7; disgust (2) is past 75 % of 9 votes
    target = process_votes(SPLIT, "crossentropy")
    assert np.allclose(target, [4 / 7, 0, 0, 0, 3 / 7, 0, 0, 0])
    assert np.allclose(process_votes(SPLIT, "probability"), target)
    assert np.allclose(process_votes(TIED, "crossentropy"), [0.5, 0, 0.5, 0, 0, 0, 0, 0])
    # an emotion that ties with unknown keeps its place only when it came first, and needs half the votes
    assert process_votes([4, 0, 0, 0, 0, 0, 0, 0, 4, 2], "crossentropy") is None


def test_multi_target_takes_every_class_with_30_percent():
    assert np.allclose(process_votes(SPLIT, "multi_target"), [4 / 7, 0, 0, 0, 3 / 7, 0, 0, 0])
    assert np.allclose(process_votes([3, 3, 2, 2, 0, 0, 0, 0, 0, 0], "multi_target"), [0.5, 0.5, 0, 0, 0, 0, 0, 0])
    assert process_votes([2, 2, 2, 2, 2, 0, 0, 0, 0, 0], "multi_target") is None  # none has 30 %
    with pytest.raises(ValueError, match="label mode"):
        process_votes(HAPPY, "soft")


def test_folder_layout_reads_each_split_on_the_canonical_classes(tmp_path):
    root = ferplus_folders(tmp_path, {"Train": [HAPPY, SPLIT, TIED, UNKNOWN, NOT_A_FACE, CONTEMPT],
                                      "Valid": [HAPPY, CONTEMPT], "Test": [SPLIT]})
    majority = read_split("ferplus", root, "train")
    assert [CANONICAL_CLASSES[s.label] for s in majority] == ["happy", "contempt"]
    assert all(s.target is None for s in majority)
    soft = read_split("ferplus", root, "train", label_mode="crossentropy")
    assert [CANONICAL_CLASSES[s.label] for s in soft] == ["happy", "neutral", "neutral", "contempt"]  # tie: first
    assert canonical(soft[1].target) == {**dict.fromkeys(CANONICAL_CLASSES, 0.0), "neutral": 0.5714, "angry": 0.4286}
    assert len(read_split("ferplus", root, "val")) == 2 and len(read_split("ferplus", root, "test")) == 0
    # the 7 basic classes: contempt rows go, contempt's share of a distribution is dropped
    basic = read_split("ferplus", root, "train", BASIC_CLASSES, label_mode="crossentropy")
    assert len(basic) == 3 and len(basic[0].target) == 7


def test_csv_pair_layout_matches_rows_and_usage(tmp_path):
    root = ferplus_csv_pair(tmp_path, [("Training", HAPPY), ("Training", []), ("Training", SPLIT),
                                       ("PublicTest", CONTEMPT), ("PrivateTest", HAPPY)])
    train = read_split("ferplus", root, "train", label_mode="crossentropy")
    assert [CANONICAL_CLASSES[s.label] for s in train] == ["happy", "neutral"]
    assert train[0].source.shape == (48, 48) and train[0].source.dtype == np.uint8
    assert [CANONICAL_CLASSES[s.label] for s in read_split("ferplus", root, "val")] == ["contempt"]
    assert [CANONICAL_CLASSES[s.label] for s in read_split("ferplus", root, "test")] == ["happy"]


def test_dataset_yields_distributions_or_draws_from_them(tmp_path):
    root = ferplus_folders(tmp_path, {"Train": [SPLIT]})
    samples = read_split("ferplus", root, "train", label_mode="probability")
    _, target = FERDataset(samples, CANONICAL_CLASSES, target_kind="distribution", grayscale=True)[0]
    assert target.dtype == torch.float32 and target.sum().item() == pytest.approx(1.0)
    drawn = FERDataset(samples, CANONICAL_CLASSES, target_kind="sampled", grayscale=True)
    torch.manual_seed(0)
    labels = [drawn[0][1] for _ in range(400)]
    assert set(labels) == {CANONICAL_CLASSES.index("neutral"), CANONICAL_CLASSES.index("angry")}
    assert 0.45 < labels.count(CANONICAL_CLASSES.index("neutral")) / 400 < 0.70  # 4/7 = 0.57


@pytest.mark.parametrize("row, message", [
    ('fer0000000.png,"(0, 0, 48, 48)",1,2,3', r"label.csv:2: 5 fields, expected 12"),
    ('fer0000000.png,"(0, 0, 48, 48)",1,2,x,0,0,0,0,0,0,0', r"label.csv:2: expected 10 vote counts"),
    ('missing.png,"(0, 0, 48, 48)",0,9,1,0,0,0,0,0,0,0', r"label.csv:2: image missing.png is missing"),
])
def test_bad_label_row_names_file_and_line(tmp_path, row, message):
    root = ferplus_folders(tmp_path, {"Train": [HAPPY, HAPPY]})
    label_file = root / "FER2013Train" / "label.csv"
    lines = label_file.read_text().splitlines()
    lines[1] = row
    label_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=message):
        read_split("ferplus", root, "train")


def test_csv_pair_of_different_lengths_is_refused(tmp_path):
    root = ferplus_csv_pair(tmp_path, [("Training", HAPPY)] * 3)
    votes = root / "fer2013new.csv"
    votes.write_text("\n".join(votes.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DatasetLayoutError, match="fer2013new.csv: 2 rows but fer2013.csv has more"):
        read_split("ferplus", root, "train")


def test_missing_split_folder_says_what_is_expected(tmp_path):
    ferplus_folders(tmp_path, {"Train": [HAPPY]})
    with pytest.raises(DatasetLayoutError, match="no FER2013Valid/"):
        read_split("ferplus", tmp_path, "val")
