import pytest
import torch

from gclenet.data.corruptions import CORRUPTION_FAMILIES, EYES, MOUTH, corruption_grid, parse_corruption


def face(seed=0, size=48):
    return torch.randint(0, 256, (1, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def changed(a, b):
    return (a != b).squeeze(0)


def test_every_corruption_is_deterministic_and_changes_pixels():
    image = face()
    for corruption in corruption_grid():
        first, again = corruption(image, 3, seed=7), corruption(image, 3, seed=7)
        assert torch.equal(first, again), corruption.name
        assert first.shape == image.shape and first.dtype == torch.uint8
        assert changed(first, image).any(), corruption.name
        assert torch.equal(image, face())  # the input is never modified in place


def test_random_choices_depend_on_seed_and_index():
    (patch,) = [c for c in corruption_grid(["patch"]) if c.severity == 20]
    image = face()
    assert not torch.equal(patch(image, 0, seed=0), patch(image, 1, seed=0))
    assert not torch.equal(patch(image, 0, seed=0), patch(image, 0, seed=1))


def test_region_occluders_touch_only_their_region():
    image = face()
    for family, (top, bottom, left, right) in (("eyes", EYES), ("mouth", MOUTH)):
        (corruption,) = corruption_grid([family])
        diff = changed(corruption(image, 0), image)
        rows, cols = torch.nonzero(diff, as_tuple=True)
        assert rows.min() >= round(top * 48) and rows.max() < round(bottom * 48)
        assert cols.min() >= round(left * 48) and cols.max() < round(right * 48)
        assert diff.float().mean() > 0.1


def test_patch_area_matches_severity():
    image = torch.zeros(1, 100, 100, dtype=torch.uint8)
    for corruption in corruption_grid(["patch"]):
        area = (corruption(image, 0) == 128).float().mean().item()
        assert abs(area - corruption.severity / 100) < 0.02


def test_grid_lists_every_family():
    assert {c.family for c in corruption_grid()} == set(CORRUPTION_FAMILIES)
    names = [c.name for c in corruption_grid()]
    assert len(names) == len(set(names)) and "rotation@45" in names and "eyes@1" in names


def test_parse_corruption_matches_the_grid():
    grid = {c.name: c for c in corruption_grid()}
    image = face(3)
    for spec, name in (("eyes", "eyes@1"), ("rotation@30", "rotation@30"), ("patch@20", "patch@20")):
        parsed = parse_corruption(spec)
        assert parsed.name == name
        assert torch.equal(parsed(image, 5), grid[name](image, 5))
    assert parse_corruption("patch@35").name == "patch@35"  # severities off the grid are allowed
    for bad in ("rotation", "sunglasses", "blur@x"):
        with pytest.raises(ValueError, match="corruption"):
            parse_corruption(bad)
