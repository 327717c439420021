import pytest
import torch

from gclenet.models._reparam import fuse_conv_bn, pad_kernel_to
from gclenet.models.blocks import AsymmetricConvBlock, ConvNormAct, parse_kernel
from gclenet.models.lfa import LocalFeatureEnhancement
from tests.conftest import randomize_batchnorm


@pytest.mark.parametrize("kernels", [("3x3", "1x3", "3x1"), ("3x3",), ("1x3", "3x1")])
def test_asymmetric_block_folds_into_one_conv(kernels):
    block = randomize_batchnorm(AsymmetricConvBlock(8, kernels)).eval()
    x = torch.randn(2, 8, 9, 7)
    with torch.no_grad():
        expected = block(x)
        block.reparameterize()
        block.reparameterize()  # idempotent
        assert block.reparam_conv.kernel_size == (3, 3) and not hasattr(block, "branches")
        torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_fuse_conv_bn_matches_eval_batchnorm():
    unit = randomize_batchnorm(ConvNormAct(4, 6, 3, act=False)).eval()
    weight, bias = fuse_conv_bn(unit.conv.weight, unit.bn)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(torch.nn.functional.conv2d(x, weight, bias, padding=1), unit(x))


def test_kernel_helpers_reject_nonsense():
    assert parse_kernel("1x3") == (1, 3)
    for bad in ("3", "2x2", "axb", "0x3"):
        with pytest.raises(ValueError):
            parse_kernel(bad)
    with pytest.raises(ValueError):
        pad_kernel_to(torch.zeros(1, 1, 3, 3), (2, 2))
    with pytest.raises(ValueError, match="repeat a shape"):
        AsymmetricConvBlock(4, ("3x3", "1x3", "3x3"))


def test_lfa_quadrants_are_independent():
    lfa = LocalFeatureEnhancement(4, zero_init=False).eval()
    x = torch.randn(1, 4, 10, 10)
    y = x.clone()
    y[..., 5:, 5:] = torch.randn(1, 4, 5, 5)  # change the bottom-right quadrant only
    with torch.no_grad():
        a, b = lfa(x), lfa(y)
    assert torch.equal(a[..., :5, :], b[..., :5, :]) and torch.equal(a[..., :, :5], b[..., :, :5])
    assert not torch.equal(a[..., 5:, 5:], b[..., 5:, 5:])


def test_lfa_rejects_too_small_maps():
    with pytest.raises(ValueError, match="at least 8x8"):
        LocalFeatureEnhancement(4)(torch.randn(1, 4, 1, 6))
