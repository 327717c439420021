import numpy as np
import pytest
from PIL import Image

from gclenet.cli.main import main

pytest.importorskip("pytorch_grad_cam")


def test_grad_cam_highlights_and_figure(random_weights, tmp_path):
    from gclenet.inference.cam import grad_cam
    from gclenet.inference.recognizer import Recognizer

    recognizer = Recognizer(random_weights, detector="none", precision="fp32")
    face = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
    heat, index = grad_cam(recognizer, face)
    assert heat.shape == (60, 60) and 0.0 <= heat.min() and heat.max() <= 1.0 and heat.max() > 0
    assert index == int(recognizer.classify([face])[0].argmax())

    Image.fromarray(face).save(tmp_path / "face.png")
    assert main(["cam", str(tmp_path / "face.png"), "--out", str(tmp_path / "cams"), "--weights", str(random_weights),
                 "--baseline", str(random_weights), "--detector", "none"]) == 0
    assert (tmp_path / "cams" / "face.cam.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "other").mkdir()
    Image.fromarray(face[::-1]).save(tmp_path / "other" / "face.png")  # same name, another picture
    assert main(["cam", str(tmp_path / "face.png"), str(tmp_path / "other" / "face.png"), "--out",
                 str(tmp_path / "two"), "--weights", str(random_weights), "--detector", "none"]) == 0
    # Same name, another folder: the input tree is mirrored, no name made up.
    assert sorted(str(p.relative_to(tmp_path / "two")) for p in (tmp_path / "two").rglob("*.png")) == [
        "face.cam.png", "other/face.cam.png"]
    (tmp_path / "bad.png").write_text("x")
    assert main(["cam", str(tmp_path / "bad.png"), "--out", str(tmp_path / "cams"), "--weights", str(random_weights),
                 "--detector", "none"]) == 1


def test_cam_rows_for_corruptions(random_weights, tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (60, 60, 3), dtype=np.uint8)).save(tmp_path / "f.png")
    args = ["cam", str(tmp_path / "f.png"), "--weights", str(random_weights), "--detector", "none"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    assert main(args + ["--out", str(tmp_path / "three"), "--corruption", "eyes", "--corruption", "rotation@30",
                        "--baseline", str(random_weights), "--names", "a", "b"]) == 0
    one = Image.open(tmp_path / "one" / "f.cam.png")
    three = Image.open(tmp_path / "three" / "f.cam.png")
    assert three.height > 2.5 * one.height and three.width > 1.3 * one.width  # 3 rows, 3 columns vs 1 x 2
    assert main(args + ["--out", str(tmp_path / "bad"), "--corruption", "rotation"]) == 2
    assert main(args + ["--out", str(tmp_path / "bad"), "--baseline", str(random_weights), "--names", "a"]) == 2
