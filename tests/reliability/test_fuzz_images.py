"""Fuzzing the image-loading and predict path: any bytes either decode or fail in one named line."""

import io

import numpy as np
import pytest
from PIL import Image

from gclenet.data.image_io import ImageLoadError, load_image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _valid(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


SEEDS = {fmt: _valid(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def mutated_images(draw):
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        if not data:
            break
    return bytes(data)


def _check(tmp_path, blob: bytes, recognizer=None):
    path = tmp_path / "fuzz.img"
    path.write_bytes(blob)
    try:
        image = load_image(path)
    except ImageLoadError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    array = np.asarray(image)
    assert array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8
    if recognizer is not None:
        (face,) = recognizer.predict(array)
        assert abs(sum(face.probs.values()) - 1) < 1e-4


@FUZZ
@given(blob=mutated_images())
def test_mutated_real_images(tmp_path, blob):
    _check(tmp_path, blob)


@FUZZ
@given(blob=st.binary(max_size=2048))
def test_random_bytes(tmp_path, blob):
    _check(tmp_path, blob)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=mutated_images())
def test_whatever_decodes_can_be_predicted(tmp_path, random_weights, blob):
    from gclenet.inference.recognizer import Recognizer

    _check(tmp_path, blob, Recognizer(random_weights, detector="none", precision="fp32"))
