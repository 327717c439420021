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


def test_faces_unlike_the_data_sets_are_off_by_default_and_each_changes_the_batch():
    images = torch.randint(0, 256, (8, 1, 48, 48), dtype=torch.uint8)
    plain = BatchAugment(AugmentConfig(**OFF), **IMAGENET)(images)
    for setting in ({"aspect": 0.3}, {"perspective": 0.3}, {"blur": 1.0}, {"noise": 0.1}, {"gamma": 0.5},
                    {"jpeg": 1.0}):  # (a JPEG round trip of noise loses much of it)
        torch.manual_seed(0)
        out = BatchAugment(AugmentConfig(**OFF, **setting), **IMAGENET)(images)
        assert out.shape == plain.shape and torch.isfinite(out).all(), setting
        assert not torch.allclose(out, plain, atol=1e-3), setting


def test_blur_smooths_and_noise_roughens_a_flat_face():
    flat = torch.full((16, 1, 32, 32), 128, dtype=torch.uint8)
    noisy = BatchAugment(AugmentConfig(**OFF, noise=0.2), **IMAGENET)(flat)
    assert noisy[:, 0].std(dim=(1, 2)).mean() > 0.2  # 0 without noise (in normalised units)
    edges = square_images()
    sharp = BatchAugment(AugmentConfig(**OFF), **IMAGENET)(edges)
    blurred = BatchAugment(AugmentConfig(**OFF, blur=1.0, blur_sigma=1.5), **IMAGENET)(edges)
    step = lambda x: (x[..., 1:] - x[..., :-1]).abs().amax(dim=(1, 2, 3))  # noqa: E731  the steepest edge
    assert torch.all(step(blurred) < step(sharp)) and (step(blurred) / step(sharp)).mean() < 0.7
    assert torch.allclose(blurred.mean(dim=(1, 2, 3)), sharp.mean(dim=(1, 2, 3)), atol=0.05)  # brightness kept


def test_gamma_keeps_black_and_white_and_the_order_of_grey_levels():
    ramp = torch.arange(0, 256, 4, dtype=torch.uint8).view(1, 1, 1, -1).expand(8, 1, 8, -1).contiguous()
    out = BatchAugment(AugmentConfig(**OFF, gamma=1.0), **IMAGENET)(ramp)[:, 0, 0]
    plain = BatchAugment(AugmentConfig(**OFF), **IMAGENET)(ramp)[:, 0, 0]
    assert torch.allclose(out[:, 0], plain[:, 0], atol=1e-4)  # black stays black
    assert torch.all(out[:, 1:] >= out[:, :-1])  # monotone
    assert (out - plain).abs().amax() > 0.1


def test_perspective_keeps_the_face_centred_and_turns_it():
    torch.manual_seed(1)
    out = BatchAugment(AugmentConfig(**OFF, perspective=0.3), **IMAGENET)(square_images())
    bright = out[:, 0] > 1.0
    assert torch.all(bright[:, 22:26, 22:26])  # the middle stays where it was
    widths = bright.sum(dim=2).float()  # per row: one side of the square shrinks, the other grows
    top, bottom = widths[:, 14:18].mean(1), widths[:, 30:34].mean(1)
    left, right = bright.sum(dim=1).float()[:, 14:18].mean(1), bright.sum(dim=1).float()[:, 30:34].mean(1)
    assert ((top - bottom).abs() + (left - right).abs()).gt(1.0).float().mean() > 0.5


def test_aspect_stretch_keeps_the_area():
    torch.manual_seed(2)
    out = BatchAugment(AugmentConfig(**OFF, aspect=0.5), **IMAGENET)(square_images())
    bright = out[:, 0] > 1.0
    rows, cols = bright.any(dim=2).sum(1).float(), bright.any(dim=1).sum(1).float()
    assert (rows - cols).abs().max() >= 4  # stretched
    assert torch.allclose(bright.sum(dim=(1, 2)).float(), torch.full((16,), 576.0), rtol=0.2)
