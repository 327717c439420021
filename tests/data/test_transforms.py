"""The batch augmentation: identity when switched off, zoom out / flip / erasing as configured."""

import torch

from gclenet.data.transforms import AugmentConfig, BatchAugment
from gclenet.models import IMAGENET_MEAN, IMAGENET_STD, EvalTransform

IMAGENET = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
OFF = dict(crop_scale=(1.0, 1.0), translate=0.0, hflip=False, rotation=0.0, brightness=0.0, contrast=0.0, erasing=0.0)


def square_images(n: int = 16, size: int = 48) -> torch.Tensor:
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    images[:, :, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255  # a bright square, half the side
    return images


def test_switched_off_it_is_the_evaluation_transform():
    images = torch.randint(0, 256, (4, 1, 48, 48), dtype=torch.uint8)
    expected = torch.stack([EvalTransform(48)(image) for image in images])
    assert torch.allclose(BatchAugment(AugmentConfig(**OFF), **IMAGENET)(images), expected, atol=1e-5)


def test_zoom_out_shrinks_the_face_and_reflects_the_border():
    out = BatchAugment(AugmentConfig(**{**OFF, "crop_scale": (4.0, 4.0)}), **IMAGENET)(square_images())
    bright = out[:, 0] > 1.0
    # a window twice the image's side: the 24x24 square becomes 12x12 in the middle, and the
    # margins show the image mirrored at its edges (half squares at the sides, quarters at corners)
    assert torch.all(bright[:, 18:30, 18:30]) and not bright[:, 12:36, 12:36].sum(dim=(1, 2)).ne(144).any()
    assert bright.sum(dim=(1, 2)).eq(144 + 4 * 72 + 4 * 36).all()


def test_flip_is_drawn_per_image():
    images = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    images[..., :4] = 255  # bright left half
    out = BatchAugment(AugmentConfig(**{**OFF, "hflip": True}), **IMAGENET)(images)
    left_bright = out[:, 0, :, :4].mean(dim=(1, 2)) > out[:, 0, :, 4:].mean(dim=(1, 2))
    assert 10 < left_bright.sum() < 54


def test_erasing_zeroes_one_rectangle_when_drawn():
    images = torch.full((32, 3, 32, 32), 200, dtype=torch.uint8)
    out = BatchAugment(AugmentConfig(**{**OFF, "erasing": 1.0}), **IMAGENET)(images)
    erased = (out == 0).all(dim=1).sum(dim=(1, 2))
    assert torch.all(erased >= 0.02 * 32 * 32 * 0.5) and torch.all(erased <= 0.2 * 32 * 32 * 1.5)


def test_same_seed_same_batch():
    images = torch.randint(0, 256, (8, 1, 48, 48), dtype=torch.uint8)
    augment = BatchAugment(AugmentConfig(crop_scale=(0.6, 1.6), translate=0.1, rotation=15), **IMAGENET)
    torch.manual_seed(5)
    first = augment(images)
    torch.manual_seed(5)
    assert torch.equal(first, augment(images))


def test_evaluation_transform_is_one_computation_for_torch_and_numpy():
    """The ONNX Runtime path (NumPy arrays, no torch) and the PyTorch path give the same batch."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(64, 64, 3), (30, 50, 3), (48, 48), (100, 80, 1)]]
    for grayscale in (True, False):
        transform = EvalTransform(48, grayscale=grayscale)
        array = transform.numpy_batch(faces)
        assert array.shape == (4, 3, 48, 48) and array.dtype == np.float32 and array.flags.c_contiguous
        tensors = [torch.from_numpy(f if f.ndim == 3 else f[..., None]).permute(2, 0, 1) for f in faces]
        assert torch.equal(transform.batch(tensors), torch.from_numpy(array))
    # a colour face for a gray model: what PIL makes of the file decoded gray, resized
    gray = np.asarray(Image.fromarray(faces[0]).convert("L").resize((48, 48), Image.BILINEAR)) / np.float32(255)
    expected = (gray - np.float32(IMAGENET_MEAN[1])) / np.float32(IMAGENET_STD[1])
    np.testing.assert_allclose(EvalTransform(48, grayscale=True).numpy_batch(faces[:1])[0, 1], expected, atol=1e-6)
