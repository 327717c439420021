"""Hostile and unusual image files: each one either decodes correctly or fails in one named line."""

import io

import numpy as np
import pytest
from PIL import Image

from gclenet.data.image_io import ImageLoadError, load_image


def save(path, image, **kwargs):
    image.save(path, **kwargs)
    return path


@pytest.fixture
def rgb():
    array = np.zeros((40, 30, 3), dtype=np.uint8)
    array[:20] = (255, 0, 0)  # red top half
    return Image.fromarray(array)


@pytest.mark.parametrize("kind", ["truncated_jpeg", "truncated_png", "empty", "text", "html", "directory"])
def test_broken_files_fail_with_one_line_naming_the_file(tmp_path, rgb, kind):
    if kind.startswith("truncated"):
        fmt = "JPEG" if kind.endswith("jpeg") else "PNG"
        buffer = io.BytesIO()
        rgb.save(buffer, format=fmt)
        path = tmp_path / f"cut.{fmt.lower()}"
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif kind == "empty":
        path = tmp_path / "zero.jpg"
        path.write_bytes(b"")
    elif kind == "text":
        path = tmp_path / "notes.jpg"
        path.write_text("this is not an image")
    elif kind == "html":
        path = tmp_path / "page.png"
        path.write_text("<html><body>404</body></html>")
    else:
        path = tmp_path / "folder.jpg"
        path.mkdir()
    with pytest.raises(ImageLoadError) as err:
        load_image(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = save(tmp_path / "big.png", Image.new("L", (3000, 3000)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # 9 M pixels declared: over the limit
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(path)


def test_odd_modes_become_rgb(tmp_path, rgb):
    cases = {
        "cmyk.jpg": rgb.convert("CMYK"),
        "palette.png": rgb.convert("P"),
        "rgba.png": rgb.convert("RGBA"),
        "gray16.png": Image.fromarray((np.asarray(rgb.convert("L")).astype(np.uint16) * 257)),
        "gray.png": rgb.convert("L"),
    }
    for name, image in cases.items():
        out = np.asarray(load_image(save(tmp_path / name, image)))
        assert out.shape == (40, 30, 3) and out.dtype == np.uint8, name
        assert out[:20].mean() != out[20:].mean(), name  # content survived


def test_transparent_pixels_become_white(tmp_path):
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    out = np.asarray(load_image(save(tmp_path / "clear.png", image)))
    assert out.min() == 255


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = np.asarray(load_image(path))
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 50


def test_exif_orientation_is_respected(tmp_path, rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = save(tmp_path / "phone.jpg", rgb, exif=exif)
    out = np.asarray(load_image(path))
    assert out.shape == (30, 40, 3)  # displayed upright: width and height swapped
    assert out[:, 20:].mean(axis=(0, 1))[0] > 200  # the red half is now on the right


def test_non_utf8_file_name(tmp_path, rgb):
    name = b"caf\xe9.png"  # Latin-1 bytes, not valid UTF-8
    path = tmp_path / name.decode("utf-8", "surrogateescape")
    save(path, rgb)
    assert np.asarray(load_image(path)).shape == (40, 30, 3)
