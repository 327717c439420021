import pytest
import torch
import torch.nn.functional as F

from gclenet.models.acmix import ACMix, border_index, local_window_attention, local_window_attention_reference
from gclenet.models import reparameterize_model
from tests.conftest import randomize_batchnorm


@pytest.mark.parametrize(
    "height,width,block", [(56, 56, None), (28, 28, 14), (25, 25, None), (28, 20, 7), (9, 13, None), (3, 4, None)]
)
def test_blocked_attention_equals_the_literal_sliding_window(height, width, block):
    q, k, v = (torch.randn(2, height, width, 32, requires_grad=True) for _ in range(3))
    offset = torch.randn(height, width, 8, requires_grad=True)
    got = local_window_attention(q, k, v, num_heads=4, window=7, block_size=block, key_offset=offset)
    expected = local_window_attention_reference(q, k, v, num_heads=4, window=7, key_offset=offset)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(got.square().sum(), (q, k, v, offset))
    expected_grads = torch.autograd.grad(expected.square().sum(), (q, k, v, offset))
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e, atol=1e-4, rtol=1e-4)


def test_attention_is_local():
    # A change far outside a pixel's 7x7 window must not reach that pixel.
    q, k, v = (torch.randn(1, 20, 20, 16) for _ in range(3))
    base = local_window_attention(q, k, v, num_heads=2, window=7)
    v2 = v.clone()
    v2[:, 15:, 15:] += 10.0
    moved = local_window_attention(q, k, v2, num_heads=2, window=7)
    assert torch.equal(base[:, :10, :10], moved[:, :10, :10])
    assert not torch.equal(base[:, 15:, 15:], moved[:, 15:, 15:])


def test_bf16_attention_on_cpu_is_the_fp32_one_rounded():
    # The CPU attention backward is slow in bf16 for 16-wide heads, so bf16 inputs that
    # need gradients attend in fp32: the fp32 result, rounded once, and gradients flow back.
    q, k, v = (torch.randn(2, 14, 14, 64).bfloat16().requires_grad_() for _ in range(3))
    offset = torch.randn(14, 14, 16)
    with torch.autocast("cpu", torch.bfloat16):
        got = local_window_attention(q, k, v, num_heads=4, window=7, key_offset=offset)
    fp32 = local_window_attention(q.float(), k.float(), v.float(), num_heads=4, window=7, key_offset=offset)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, fp32.bfloat16())
    grads = torch.autograd.grad(got.float().sum(), (q, k, v))
    assert all(g.dtype == torch.bfloat16 and g.abs().sum() > 0 for g in grads)
    # A trainable positional encoding alone also takes the fp32 path.
    trainable_offset = offset.clone().requires_grad_()
    with torch.autocast("cpu", torch.bfloat16):
        only_offset = local_window_attention(
            q.detach(), k.detach(), v.detach(), num_heads=4, window=7, key_offset=trainable_offset
        )
    assert torch.equal(only_offset, fp32.bfloat16())
    assert torch.autograd.grad(only_offset.float().sum(), trainable_offset)[0].abs().sum() > 0
    # Inference keeps the (faster) bf16 forward: close to fp32, not the same rounding.
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        inferred = local_window_attention(q, k, v, num_heads=4, window=7, key_offset=offset)
    assert inferred.dtype == torch.bfloat16
    torch.testing.assert_close(inferred.float(), fp32.detach(), atol=0.05, rtol=0.05)


@pytest.mark.parametrize("size", [4, 9, 20])
def test_border_index_reflects_like_pad(size):
    x = torch.randn(1, 1, size, size)
    idx = border_index(size, 3)
    torch.testing.assert_close(x[:, :, idx][:, :, :, idx], F.pad(x, (3, 3, 3, 3), mode="reflect"))


def literal_conv_path(module: ACMix, x: torch.Tensor) -> torch.Tensor:
    """ACMix's convolution path step by step: projections, fc over heads, shift conv."""
    n, c, h, w = x.shape
    heads, head_dim = module.num_heads, c // module.num_heads
    qkv = module.qkv(x).reshape(n, 3 * heads, head_dim * h, w)
    mixed = module.conv_mix(qkv).reshape(n, -1, head_dim, h, w)  # (N, k^2, d, H, W)
    mixed = mixed.transpose(1, 2).reshape(n, -1, h, w)  # group d holds its k^2 maps
    return module.conv_shift(mixed)


def test_composed_conv_path_equals_the_literal_one():
    module = ACMix(32, num_heads=4)
    with torch.no_grad():
        module.conv_shift.weight.normal_()
        module.conv_shift.bias.normal_()
    x = torch.randn(2, 32, 10, 12)
    composed = F.conv2d(x, *module.conv_path_weight(), padding=1)
    torch.testing.assert_close(composed, literal_conv_path(module, x), atol=1e-4, rtol=1e-4)


def test_shift_initialisation_sums_shifted_maps():
    module = ACMix(16, num_heads=2)
    mixed = torch.randn(1, 9 * 8, 6, 6)
    out = module.conv_shift(mixed)
    # Output channel o of group d sums the 9 maps of group d shifted by offsets 0..8.
    group0 = mixed[:, :9]
    padded = F.pad(group0, (1, 1, 1, 1))
    expected = sum(padded[:, m, m // 3 : m // 3 + 6, m % 3 : m % 3 + 6] for m in range(9))
    torch.testing.assert_close(out[:, 0], expected)


def test_positional_encoding_enters_the_logits_relatively():
    # q_i.(k_j + p_i - p_j): with k = 0 and v = one-hot position, the attention
    # still prefers neighbours along the encoded direction, so the output changes
    # when the positional projection does.
    module = ACMix(8, num_heads=1, zero_init=False).eval()
    x = torch.randn(1, 8, 9, 9)
    before = module(x)
    with torch.no_grad():
        module.pos_proj.weight.mul_(5.0)
    assert not torch.allclose(before, module(x))


def test_acmix_reparameterisation_is_exact():
    module = randomize_batchnorm(ACMix(32, num_heads=4)).eval()
    with torch.no_grad():
        module.attn_scale.fill_(0.7)
        module.conv_scale.fill_(-1.3)
    x = torch.randn(2, 32, 14, 14)
    deploy = reparameterize_model(module)
    with torch.no_grad():
        torch.testing.assert_close(deploy(x), module(x), atol=1e-5, rtol=1e-4)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="heads"):
        ACMix(30, num_heads=4)
    with pytest.raises(ValueError, match="odd"):
        ACMix(32, window=6)
