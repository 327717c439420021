from collections import Counter

import pytest

from gclenet.data.classes import BASIC_CLASSES, CANONICAL_CLASSES, canonical_name, class_list
from gclenet.data.folders import DatasetLayoutError
from gclenet.data.registry import get_dataset_spec, read_split
from tests.data.layouts import ckplus48, ckplus_original, class_folders, fer2013_csv, rafdb_original, write_image


def by_class(samples, classes=BASIC_CLASSES):
    counts = Counter(classes[s.label] for s in samples)
    return {name: counts[name] for name in classes if counts[name]}


def test_canonical_class_list():
    assert BASIC_CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert CANONICAL_CLASSES[-1] == "contempt"
    assert [canonical_name(n) for n in ("Anger", "happiness", "Sadness", "surprised", "NEUTRAL")] == [
        "angry", "happy", "sad", "surprise", "neutral"]
    assert class_list(["Happy", "Sad", "other"]) == ("happy", "sad", "other")
    with pytest.raises(ValueError, match="twice"):
        class_list(["happy", "happiness"])


def test_fer2013_csv_maps_each_emotion_and_usage(tmp_path):
    rows = [(e, "Training") for e in range(7)] + [(3, "PublicTest"), (6, "PrivateTest"), (0, "PrivateTest")]
    root = fer2013_csv(tmp_path, rows)
    train = read_split("fer2013", root, "train")
    assert [BASIC_CLASSES[s.label] for s in train] == list(BASIC_CLASSES)  # codes 0-6 in canonical order
    assert by_class(read_split("fer2013", root, "val")) == {"happy": 1}
    assert by_class(read_split("fer2013", root, "test")) == {"angry": 1, "neutral": 1}
    assert train[0].source.shape == (48, 48)


@pytest.mark.parametrize("emotion, pixels, message", [
    ("7", None, "emotion '7', expected 0-6"), ("", None, "emotion '', expected 0-6"),
    ("3", "300 " * 2304, "pixels must be whole numbers 0-255"), ("3", "a " * 2304, "pixels must be whole numbers 0-255"),
])
def test_fer2013_csv_bad_row_names_the_file_and_row(tmp_path, emotion, pixels, message):
    root = fer2013_csv(tmp_path, [(0, "Training"), (0, "Training")])
    lines = (root / "fer2013.csv").read_text().splitlines()
    good_pixels = lines[2].split(",")[1]
    lines[2] = f"{emotion},{(pixels or good_pixels).strip()},Training"
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=rf"fer2013.csv:3: {message}"):
        read_split("fer2013", root, "train")


def test_fer2013_folders_accept_val_as_test(tmp_path):
    class_folders(tmp_path / "train", {"angry": 2, "happy": 3, "neutral": 1})
    class_folders(tmp_path / "val", {"sad": 2, "surprise": 1})
    assert by_class(read_split("fer2013", tmp_path, "train")) == {"angry": 2, "happy": 3, "neutral": 1}
    assert by_class(read_split("fer2013", tmp_path, "test")) == {"sad": 2, "surprise": 1}


def test_rafdb_original_layout_labels_and_split(tmp_path):
    entries = [(f"train_{i:05d}.jpg", label) for i, label in enumerate(range(1, 8), start=1)]
    entries += [("test_0001.jpg", 1), ("test_0002.jpg", 6)]
    root = rafdb_original(tmp_path, entries)
    train = read_split("rafdb", root, "train")
    # RAF-DB 1-7 = surprise, fear, disgust, happiness, sadness, anger, neutral
    assert [BASIC_CLASSES[s.label] for s in train] == ["surprise", "fear", "disgust", "happy", "sad", "angry", "neutral"]
    assert train[0].source.name == "train_00001_aligned.jpg"
    assert by_class(read_split("rafdb", root, "test")) == {"surprise": 1, "angry": 1}


def test_rafdb_repackaged_layout(tmp_path):
    class_folders(tmp_path / "DATASET" / "train", {"1": 2, "4": 1, "6": 3})
    class_folders(tmp_path / "DATASET" / "test", {"7": 2})
    assert by_class(read_split("rafdb", tmp_path, "train")) == {"angry": 3, "happy": 1, "surprise": 2}
    assert by_class(read_split("rafdb", tmp_path, "test")) == {"neutral": 2}


def test_ckplus48_folders_and_subject_independent_folds(tmp_path):
    root = ckplus48(tmp_path, subjects=6, per_class=2)
    every = read_split("ckplus", root, "all")
    assert by_class(every, CANONICAL_CLASSES) == {
        "angry": 12, "disgust": 12, "fear": 12, "happy": 12, "sad": 12, "surprise": 12, "contempt": 12}
    for fold in range(3):
        options = dict(folds=3, fold=fold, protocol="subject")
        train = read_split("ckplus", root, "train", **options)
        test = read_split("ckplus", root, "test", **options)
        assert len(train) + len(test) == len(every)
        assert not {s.subject for s in train} & {s.subject for s in test}  # no person on both sides
    train = read_split("ckplus", root, "train", folds=5, fold=0, protocol="image")
    test = read_split("ckplus", root, "test", folds=5, fold=0, protocol="image")
    assert len(test) == len(every) // 5 + (1 if len(every) % 5 else 0) and len(train) + len(test) == len(every)


def test_ckplus_original_release_last_frames_and_neutral(tmp_path):
    root = ckplus_original(tmp_path, {("S005", "001"): 3, ("S010", "002"): 5, ("S011", "001"): 2}, frames=5)
    samples = read_split("ckplus", root, "all", last_frames=2, neutral_first_frame=True)
    assert by_class(samples, CANONICAL_CLASSES) == {"disgust": 2, "happy": 2, "contempt": 2, "neutral": 3}
    happy = [s for s in samples if CANONICAL_CLASSES[s.label] == "happy"]
    assert sorted(s.source.name for s in happy) == ["S010_002_00000004.png", "S010_002_00000005.png"]
    assert {s.subject for s in samples} == {"S005", "S010", "S011"}
    # a sequence shorter than last_frames: its onset frame is neutral only, never also happy
    short = read_split("ckplus", ckplus_original(tmp_path / "short", {("S020", "001"): 5}, frames=2), "all",
                       last_frames=3, neutral_first_frame=True)
    assert sorted((s.source.name, CANONICAL_CLASSES[s.label]) for s in short) == [
        ("S020_001_00000001.png", "neutral"), ("S020_001_00000002.png", "happy")]
    with pytest.raises(ValueError, match="last_frames must be 1 or more"):
        read_split("ckplus", root, "all", last_frames=0)


def test_affectnet_numeric_folders_seven_and_eight_classes(tmp_path):
    class_folders(tmp_path / "train", {"0": 1, "1": 2, "6": 1, "7": 3}, mode="RGB")
    seven = read_split("affectnet", tmp_path, "train", BASIC_CLASSES)
    assert by_class(seven) == {"neutral": 1, "happy": 2, "angry": 1}  # contempt dropped
    eight = read_split("affectnet", tmp_path, "train")  # its own classes: the 8 it is labelled with
    assert get_dataset_spec("affectnet").classes == tuple(CANONICAL_CLASSES)
    assert by_class(eight, CANONICAL_CLASSES) == {"neutral": 1, "happy": 2, "angry": 1, "contempt": 3}


def test_affectnet_csv(tmp_path):
    write_image(tmp_path / "Manually_Annotated_Images" / "1" / "a.jpg", mode="RGB")
    write_image(tmp_path / "Manually_Annotated_Images" / "2" / "b.jpg", mode="RGB")
    (tmp_path / "validation.csv").write_text(
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
        "1/a.jpg,0,0,10,10,,3,0,0\n2/b.jpg,0,0,10,10,,9,0,0\n")
    assert by_class(read_split("affectnet", tmp_path, "val")) == {"surprise": 1}  # code 9 (uncertain) skipped
    with open(tmp_path / "validation.csv", "a") as handle:
        handle.write("2/b.jpg,0,0,10,10,,,0,0\n")
    with pytest.raises(DatasetLayoutError, match="validation.csv:4: expression ''"):
        read_split("affectnet", tmp_path, "val")


def test_custom_classes_from_plain_folders(tmp_path):
    class_folders(tmp_path / "train", {"Smile": 2, "NoSmile": 3, "ignored": 1})
    samples = read_split("folder", tmp_path, "train", ["smile", "no_smile"],
                         class_map={"Smile": "smile", "NoSmile": "no_smile"})
    assert Counter(s.label for s in samples) == {0: 2, 1: 3}
    # the map's class names and folder names compare as the class list does
    samples = read_split("folder", tmp_path, "train", ["grin", "happy"], class_map={"Smile": "Happy", "NoSmile": "GRIN"})
    assert Counter(s.label for s in samples) == {1: 2, 0: 3}
    assert Counter(s.label for s in read_split("folder", tmp_path, "train", ["smile", "nosmile"])) == {0: 2, 1: 3}


def test_wrong_layouts_say_what_was_expected(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no 'train' split folder"):
        read_split("fer2013", tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetLayoutError, match="no class folders"):
        read_split("fer2013", tmp_path, "train")
    with pytest.raises(KeyError, match="valid: .*fer2013"):  # the registered names, sorted
        read_split("imagenet", tmp_path, "train")
    with pytest.raises(ValueError, match="does not take option"):
        read_split("fer2013", tmp_path, "train", fold=1)
