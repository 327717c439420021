import numpy as np
import pytest
import torch
from PIL import Image

from gclenet.data.image_io import ImageLoadError
from gclenet.inference.detection import Face, WholeImageDetector, crop_face
from gclenet.inference.recognizer import Recognizer
from gclenet.models import create_model
from gclenet.models import load


def face_image(size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)


def test_recognizer_matches_the_model_it_loaded(random_weights):
    recognizer = Recognizer(random_weights, detector="none", precision="fp32")
    image = face_image()
    (face,) = recognizer.predict(image)
    assert face.box == [0.0, 0.0, 64.0, 64.0] and list(face.probs) == recognizer.classes
    assert sum(face.probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert face.label == max(face.probs, key=face.probs.get)
    # Same numbers as the training-form model on the same preprocessing.
    model, info = load(random_weights)
    gray = np.asarray(Image.fromarray(image).convert("L").resize((48, 48), Image.BILINEAR)) / 255.0
    x = torch.tensor(gray, dtype=torch.float32)[None, None].expand(1, 3, 48, 48)
    x = (x - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model(x).softmax(1)[0].numpy()
    np.testing.assert_allclose(list(face.probs.values()), expected, atol=1e-5)


def test_inputs_paths_pil_gray_and_batches(random_weights, tmp_path):
    recognizer = Recognizer(random_weights, detector="none", precision="fp32", batch_size=2)
    image = face_image()
    path = tmp_path / "face.png"
    Image.fromarray(image).save(path)
    by_path, by_pil, by_array = recognizer.predict_batch([path, Image.open(path), image])
    assert by_path[0].probs == pytest.approx(by_pil[0].probs, abs=1e-5)
    assert by_array[0].probs == pytest.approx(by_pil[0].probs, abs=1e-5)
    assert len(recognizer.predict(image[..., 0])) == 1  # grayscale array
    flipped = Recognizer(random_weights, detector="none", precision="fp32", tta=True).predict(image)[0]
    # A phone photo stored sideways with an EXIF turn, and a transparent PNG: opened with PIL
    # they give what their files give.
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    rotated = tmp_path / "phone.jpg"
    Image.fromarray(image[:, :40]).save(rotated, exif=exif)
    transparent = tmp_path / "cut.png"
    rgba = np.dstack([image, np.where(np.arange(image.shape[1]) < 10, 0, 255).astype(np.uint8)[None, :].repeat(
        image.shape[0], 0)])
    Image.fromarray(rgba, "RGBA").save(transparent)
    for file in (rotated, transparent):
        from_file, from_pil = recognizer.predict_batch([file, Image.open(file)])
        assert from_file[0].box == from_pil[0].box and from_file[0].probs == pytest.approx(from_pil[0].probs, abs=1e-5)
    assert flipped.probs != pytest.approx(by_array[0].probs, abs=1e-5)


def test_bad_inputs_name_the_problem(random_weights, tmp_path):
    recognizer = Recognizer(random_weights, detector="none", precision="fp32")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="notes.jpg"):
        recognizer.predict(text)
    with pytest.raises(ValueError, match="uint8"):
        recognizer.predict(np.zeros((8, 8, 3), dtype=np.float32))


@pytest.mark.parametrize("bf16_hardware", [True, False], ids=["bf16 CPU", "AVX2-only CPU"])
def test_weights_of_another_variant_are_refused(random_weights, tmp_path, monkeypatch, bf16_hardware):
    import gclenet.hardware
    from gclenet.inference.export import save_weights
    from tests.conftest import weights_info

    # With one engine allowed (no fast bf16) nothing is measured: the weights must still load up front.
    monkeypatch.setattr(gclenet.hardware, "fast_bf16_available", lambda *a, **k: bf16_hardware)
    lying = save_weights(create_model("gclenet_lfa"), weights_info(model_name="gclenet"), tmp_path / "x.safetensors")
    with pytest.raises(RuntimeError, match="missing"):
        Recognizer(lying, detector="none")
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        Recognizer(tmp_path / "nothing.safetensors", detector="none")


def test_small_faces_are_skipped_and_counted(random_weights):
    class TwoFaces(WholeImageDetector):
        name = "fake"

        def detect(self, image):
            return [Face((0, 0, 40, 40), 0.99), Face((50, 50, 58, 58), 0.95)]

    recognizer = Recognizer(random_weights, detector=TwoFaces(), min_face_size=20, precision="fp32")
    faces = recognizer.predict(face_image(64))
    assert len(faces) == 1 and faces.skipped_small == 1  # the call's own count, not the recognizer's
    with pytest.raises(AttributeError, match="per call"):
        recognizer.skipped_small  # noqa: B018


def test_a_batch_with_a_bad_file_keeps_the_good_results_and_names_the_error(random_weights, tmp_path):
    recognizer = Recognizer(random_weights, detector="none", precision="fp32")
    good = tmp_path / "a.png"
    Image.fromarray(face_image()).save(good)
    (tmp_path / "empty.jpg").write_bytes(b"")
    first, bad, missing, again = recognizer.predict_batch([good, tmp_path / "empty.jpg", tmp_path / "gone.jpg", good])
    assert len(first) == len(again) == 1 and first.error is again.error is None  # in order, failures in place
    assert list(bad) == [] and "empty" in bad.error and list(missing) == [] and missing.error
    assert first[0].probs == pytest.approx(recognizer.predict(good)[0].probs, abs=1e-5)
    with pytest.raises(ImageLoadError, match="empty.jpg"):
        recognizer.predict_batch([good, tmp_path / "empty.jpg"], errors="raise")
    with pytest.raises(ImageLoadError, match="empty.jpg"):  # one image: its error is the call's
        recognizer.predict(tmp_path / "empty.jpg")
    assert recognizer.predict(tmp_path / "empty.jpg", errors="record").error == bad.error


def test_a_recognizer_shared_by_threads_gives_each_call_its_own_results(random_weights):
    from concurrent.futures import ThreadPoolExecutor

    class SizedFaces(WholeImageDetector):
        """The whole image and ``side // 16`` small faces: each image its own skipped count."""

        name = "fake"

        def detect(self, image):
            side = image.shape[0]
            return [Face((0, 0, side, side), 0.99)] + [Face((i, i, i + 8, i + 8), 0.9) for i in range(side // 16)]

    recognizer = Recognizer(random_weights, detector=SizedFaces(), min_face_size=20, precision="fp32")
    images = [face_image(32 + 16 * i, seed=i) for i in range(8)]
    expected = [recognizer.predict(image) for image in images]
    assert [faces.skipped_small for faces in expected] == [2, 3, 4, 5, 6, 7, 8, 9]

    def calls(worker):
        return [(i, recognizer.predict(images[(worker + i) % 8])) for i in range(50)]

    with ThreadPoolExecutor(8) as pool:
        for worker, results in enumerate(pool.map(calls, range(8))):
            for i, faces in results:
                want = expected[(worker + i) % 8]
                assert faces.skipped_small == want.skipped_small and faces.error is None
                assert len(faces) == 1 and faces[0].box == want[0].box
                assert faces[0].probs == pytest.approx(want[0].probs, abs=1e-5)


def test_crop_face_margin_border_and_alignment():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[40:60, 40:60] = 255
    crop = crop_face(image, Face((40, 40, 60, 60), 1.0), margin=0.5, align=False)
    assert crop.shape == (40, 40, 3) and crop[10:30, 10:30].min() == 255 and crop[:5].max() == 0
    corner = crop_face(image, Face((0, 0, 20, 20), 1.0), margin=0.5, align=False)
    assert corner.shape == (40, 40, 3)  # padded, not shrunk
    tilted = Face((30, 30, 70, 70), 1.0, landmarks=[(40, 40), (60, 50), (50, 55), (42, 62), (58, 62)])
    assert crop_face(image, tilted, margin=0.0, align=True).shape == (40, 40, 3)
    # a tilted face in the corner: what the turn brings in from beyond the image is the
    # image's edge, not black
    flat = np.full((100, 100, 3), 200, dtype=np.uint8)
    cornered = Face((0, 0, 30, 30), 1.0, landmarks=[(8, 10), (22, 18)])
    crop = crop_face(flat, cornered, margin=0.2, align=True)
    assert crop.shape == (42, 42, 3) and crop.min() == 200
    beyond = crop_face(flat[..., 0], Face((120, 10, 150, 40), 1.0), margin=0.0)  # gray, box past the edge
    assert beyond.shape == (30, 30) and beyond.min() == 200
    # inside the image, turning only a window gives the crop of the turned whole image
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    face = Face((60, 40, 100, 90), 1.0, landmarks=[(70, 55), (90, 62)])
    angle = np.degrees(np.arctan2(7, 20))
    whole = np.asarray(Image.fromarray(noise).rotate(angle, resample=Image.BILINEAR, center=(80, 65)))
    assert np.array_equal(crop_face(noise, face, margin=0.1, align=True), whole[35:95, 50:110])


def test_min_face_size_keeps_a_face_whose_drawn_box_is_at_least_the_limit(random_weights, tmp_path, capsys):
    from gclenet.cli.main import main
    from gclenet.inference.sources import write_example_photo

    photo = write_example_photo(tmp_path)
    (face,) = Recognizer(random_weights, precision="fp32").predict(photo)  # MTCNN, the default limit of 40 px
    x1, y1, x2, y2 = face.box
    shorter = int(min(x2 - x1, y2 - y1))  # 89 px: the box as drawn and as --json gives it
    (kept,) = Recognizer(random_weights, precision="fp32", min_face_size=shorter).predict(photo)
    assert kept.box == face.box  # the same box under any limit: the limit filters, the detector does not move
    above = Recognizer(random_weights, precision="fp32", min_face_size=shorter + 2).predict(photo)
    assert list(above) == [] and above.skipped_small == 1
    assert main(["predict", str(photo), "--weights", str(random_weights), "--min-face-size", str(shorter + 2)]) == 0
    assert f"skipped 1 face(s) whose box's shorter side is under {shorter + 2} px" in capsys.readouterr().err
