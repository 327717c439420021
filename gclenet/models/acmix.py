"""ACMix: shared projections feeding a local self-attention path and a convolution path.

Pan et al., "On the Integration of Self-Attention and Convolution", CVPR 2022
(https://arxiv.org/abs/2111.14556), the paper's ref. [41], written from its
description:

* one set of 1x1 projections gives q, k and v;
* attention path: multi-head self-attention of every pixel over its k_att x k_att
  neighbourhood (reflection-padded at the border, as in ACMix), with a positional
  encoding (a 1x1 projection of normalised coordinates) entering the logits as
  ``q_i . (k_j + p_i - p_j)``;
* convolution path: a light fully connected layer mixes the 3 x heads projection
  groups into k_conv^2 maps, and a grouped k_conv x k_conv conv initialised as the
  shift operation of Eq. 4 sums their shifted copies;
* output ``a * attention + b * convolution`` with learnable scalars a and b, then a BN
  (zero-initialised in GCLENet so the new branch starts silent).

Two exact rewrites make it fast on CPUs (both tested against the literal form):

* ``q_i . p_i`` is the same for every key of query i, so softmax ignores it and the
  logits become ``q_i . (k_j - p_j)``: the positional encoding is subtracted from k.
* The sliding-window attention runs blockwise (HaloNet-style): queries in BxB blocks,
  each with its (B + k_att - 1)^2 halo of keys gathered by one index, one fused
  ``scaled_dot_product_attention`` call with a fixed mask that keeps exactly each
  query's own window. The literal ``unfold`` form is kept as a reference.
* The convolution path is linear in the input (the projections have no bias), so its
  three steps compose into one 3x3 conv on the input; training computes the composed
  weight each step (gradients reach the original parameters), deployment caches it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gclenet.models._reparam import fuse_conv_bn

__all__ = ["ACMix", "halo_index", "local_window_attention", "local_window_attention_reference"]

_BLOCK_CANDIDATES = (7, 8, 6, 5, 4)


def _pick_block_size(height: int, width: int) -> int:
    """Query block side that wastes the least padding (ties: the first candidate)."""

    def padded_area(block: int) -> int:
        return math.ceil(height / block) * block * math.ceil(width / block) * block

    return min(_BLOCK_CANDIDATES, key=padded_area)


def _window_mask(block: int, window: int, device: torch.device) -> Tensor:
    """``(B*B, (B+window-1)^2)`` bool: query (y, x) of a block may see halo key (ky, kx)."""
    halo = block + window - 1
    q = torch.arange(block, device=device)
    k = torch.arange(halo, device=device)
    near = (k[None, :] - q[:, None] >= 0) & (k[None, :] - q[:, None] < window)  # (B, halo)
    return (near[:, None, :, None] & near[None, :, None, :]).reshape(block * block, halo * halo)


def border_index(size: int, radius: int, extra: int = 0, device: torch.device | None = None) -> Tensor:
    """Source index of each position of a side padded by ``radius`` (+ ``extra`` at the end).

    Reflection without repeating the edge (like ``F.pad(mode="reflect")``), clamped
    for sides shorter than the radius; the ``extra`` tail continues the reflection.
    """
    idx = torch.arange(-radius, size + radius + extra, device=device).abs()
    idx = torch.where(idx > size - 1, 2 * (size - 1) - idx, idx)
    return idx.clamp(0, size - 1)


def halo_index(height: int, width: int, block: int, radius: int, device: torch.device | None = None) -> Tensor:
    """Flat source pixel (``y * width + x``) of every key of every query block's halo.

    ``(rows * cols * halo * halo,)`` in (block row, block col, halo y, halo x) order,
    with the border reflected as :func:`border_index` does; past the map's end the
    reflection continues (clamped), and only padding queries see those keys.
    """
    halo = block + 2 * radius
    rows, cols = math.ceil(height / block), math.ceil(width / block)
    ys = border_index(height, radius, rows * block - height, device).unfold(0, halo, block)  # (rows, halo)
    xs = border_index(width, radius, cols * block - width, device).unfold(0, halo, block)  # (cols, halo)
    return (ys[:, None, :, None] * width + xs[None, :, None, :]).reshape(-1)


def local_window_attention(
    q: Tensor, k: Tensor, v: Tensor, num_heads: int, window: int,
    block_size: int | None = None, key_offset: Tensor | None = None,
) -> Tensor:
    """Multi-head attention of every pixel over its ``window x window`` neighbourhood.

    Channels-last throughout: on CPUs the cost is moving data, not the matmuls.

    Args:
        q, k, v: ``(N, H, W, C)`` (views of one projection output are fine); channels
            are ``num_heads`` groups of ``C/num_heads``.
        num_heads: attention heads.
        window: odd neighbourhood side; keys beyond the border are reflected.
        block_size: query block side; picked from the map size when ``None``.
        key_offset: ``(H, W, C/num_heads)`` subtracted from every head's keys
            (ACMix's positional encoding), reflected like the keys.

    Returns:
        ``(N, H, W, C)``.
    """
    low_precision_backward = (
        q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16)
        and torch.is_grad_enabled()
        and any(t is not None and t.requires_grad for t in (q, k, v, key_offset))
    )
    if not low_precision_backward:
        return _attend(q, k, v, num_heads, window, block_size, key_offset)
    # PyTorch's CPU attention backward is ~2x slower in bf16 than in fp32 for these
    # 16-wide heads (docs/BENCHMARKS.md; fp16 is treated alike), so training on CPUs
    # attends in fp32; inference keeps bf16, whose forward is the faster one.
    with torch.autocast("cpu", enabled=False):
        out = _attend(
            q.float(), k.float(), v.float(), num_heads, window, block_size,
            None if key_offset is None else key_offset.float(),
        )
    return out.to(q.dtype)


def _attend(
    q: Tensor, k: Tensor, v: Tensor, num_heads: int, window: int,
    block_size: int | None, key_offset: Tensor | None,
) -> Tensor:
    n, height, width, c = q.shape
    head_dim = c // num_heads
    radius = window // 2
    block = block_size or _pick_block_size(height, width)
    halo = block + 2 * radius
    rows, cols = math.ceil(height / block), math.ceil(width / block)
    extra_h, extra_w = rows * block - height, cols * block - width

    if key_offset is not None:  # on the map, before the halos repeat each key ~3.4 times
        k = (k.unflatten(3, (num_heads, head_dim)) - key_offset[None, :, :, None, :].to(k.dtype)).flatten(3)
    # One gather per tensor builds every block's halo, border included; its backward is
    # a single index_add (an unfold of a padded map, then splitting k from v, cost ~3x more).
    index = halo_index(height, width, block, radius, q.device)

    def halos(t: Tensor) -> Tensor:  # (N, H, W, C) -> (N*rows*cols, heads, halo^2, d)
        return (
            t.reshape(n, height * width, c).index_select(1, index)
            .reshape(n * rows * cols, halo * halo, num_heads, head_dim)
            .transpose(1, 2)
        )

    if extra_h or extra_w:
        q = F.pad(q, (0, 0, 0, extra_w, 0, extra_h))
    queries = (
        q.reshape(n, rows, block, cols, block, num_heads, head_dim)
        .permute(0, 1, 3, 2, 4, 5, 6)
        .reshape(n * rows * cols, block * block, num_heads, head_dim)
        .transpose(1, 2)
    )
    out = F.scaled_dot_product_attention(
        queries, halos(k), halos(v), attn_mask=_window_mask(block, window, q.device)
    )
    out = (
        out.transpose(1, 2)
        .reshape(n, rows, cols, block, block, c)
        .permute(0, 1, 3, 2, 4, 5)
        .reshape(n, rows * block, cols * block, c)
    )
    return out[:, :height, :width] if extra_h or extra_w else out


def local_window_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, num_heads: int, window: int, key_offset: Tensor | None = None
) -> Tensor:
    """The literal ``unfold`` form of :func:`local_window_attention` (slow; for tests)."""
    n, height, width, c = q.shape
    head_dim = c // num_heads
    radius = window // 2
    rows, cols = border_index(height, radius), border_index(width, radius)
    if key_offset is not None:
        k = k - key_offset.repeat(1, 1, num_heads)[None]

    def windows(x: Tensor) -> Tensor:  # (N, H, W, C) -> (N, heads, d, window^2, H*W)
        padded = x.index_select(1, rows).index_select(2, cols).permute(0, 3, 1, 2)
        return F.unfold(padded, window).reshape(n, num_heads, head_dim, window**2, height * width)

    q = q.permute(0, 3, 1, 2).reshape(n, num_heads, head_dim, 1, height * width)
    attn = ((q * windows(k)).sum(2) * head_dim**-0.5).softmax(dim=2)  # (N, heads, window^2, HW)
    out = (attn.unsqueeze(2) * windows(v)).sum(3)  # (N, heads, d, HW)
    return out.reshape(n, c, height, width).permute(0, 2, 3, 1)


class ACMix(nn.Module):
    """ACMix over ``dim`` channels, followed by an output BN.

    Args:
        dim: input and output channels.
        num_heads: attention heads (``dim`` must divide evenly).
        window: attention neighbourhood side (k_att).
        conv_kernel: kernel side of the convolution path (k_conv).
        zero_init: start the output BN scale at zero.
        block_size: attention query block; ``None`` picks one per feature-map size.
    """

    def __init__(
        self,
        dim: int,
        *,
        num_heads: int = 4,
        window: int = 7,
        conv_kernel: int = 3,
        zero_init: bool = True,
        block_size: int | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"ACMix: {dim} channels do not split into {num_heads} heads")
        if window % 2 == 0 or conv_kernel % 2 == 0:
            raise ValueError("ACMix: window and conv_kernel must be odd")
        self.num_heads, self.window, self.block_size = num_heads, window, block_size
        head_dim = dim // num_heads
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.pos_proj = nn.Conv2d(2, head_dim, 1)
        self.conv_mix = nn.Conv2d(3 * num_heads, conv_kernel**2, 1, bias=False)
        self.conv_shift = nn.Conv2d(
            conv_kernel**2 * head_dim, dim, conv_kernel, padding=conv_kernel // 2, groups=head_dim
        )
        self.attn_scale = nn.Parameter(torch.ones(()))
        self.conv_scale = nn.Parameter(torch.ones(()))
        self.norm = nn.BatchNorm2d(dim)
        self._init_shift_kernel(conv_kernel)
        if zero_init:
            nn.init.zeros_(self.norm.weight)
        self.reparam_conv: nn.Conv2d | None = None

    @torch.no_grad()
    def _init_shift_kernel(self, kernel: int) -> None:
        # Mixed map m is shifted by offset m (Eq. 4): a one-hot tap per input channel.
        shift = torch.zeros(kernel**2, kernel, kernel)
        for m in range(kernel**2):
            shift[m, m // kernel, m % kernel] = 1.0
        self.conv_shift.weight.copy_(shift.expand_as(self.conv_shift.weight))
        nn.init.zeros_(self.conv_shift.bias)

    @property
    def is_reparameterized(self) -> bool:
        return self.reparam_conv is not None

    def _position_encoding(self, height: int, width: int) -> Tensor:
        """``(H, W, head_dim)``: the 1x1 projection of coordinates normalised to [-1, 1]."""
        weight = self.pos_proj.weight
        ys = torch.linspace(-1.0, 1.0, height, device=weight.device, dtype=weight.dtype)
        xs = torch.linspace(-1.0, 1.0, width, device=weight.device, dtype=weight.dtype)
        coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)  # (H, W, 2)
        return F.linear(coords, weight[:, :, 0, 0], self.pos_proj.bias)

    def conv_path_weight(self) -> tuple[Tensor, Tensor]:
        """The convolution path (projections -> fc -> shift conv) as one conv on the input."""
        dim = self.qkv.in_channels
        heads, head_dim = self.num_heads, dim // self.num_heads
        kernel = self.conv_shift.kernel_size[0]
        mix = self.conv_mix.weight.reshape(kernel**2, 3 * heads)  # (m, (p, h))
        shift = self.conv_shift.weight.reshape(head_dim, dim // head_dim, kernel**2, kernel, kernel)
        # out channel o = (d, j) sees mixed maps m of head-dim d; map m mixes projection
        # channels (p, h, d). Compose: W[o, (p,h,d), y, x] = sum_m shift[d,j,m,y,x] mix[m,(p,h)].
        per_group = torch.einsum("djmyx,mq->djqyx", shift, mix)  # (d, j, (p,h), y, x)
        eye = torch.eye(head_dim, dtype=per_group.dtype, device=per_group.device)
        dense = torch.einsum("djqyx,de->djqeyx", per_group, eye)  # (d, j, (p,h), d', y, x)
        dense = dense.reshape(dim, 3 * dim, kernel, kernel)  # in-channel order (p, h, d')
        weight = torch.einsum("oiyx,ic->ocyx", dense, self.qkv.weight[:, :, 0, 0])
        return weight, self.conv_shift.bias

    def attention(self, x: Tensor) -> Tensor:
        """The attention path, ``(N, C, H, W)`` in channels-last memory layout."""
        height, width = x.shape[-2:]
        # The projections as one matmul on the channels-last view: a 1x1 conv here
        # was several times slower on CPUs.
        qkv = F.linear(x.permute(0, 2, 3, 1), self.qkv.weight[:, :, 0, 0])
        q, k, v = qkv.chunk(3, dim=3)
        out = local_window_attention(
            q, k, v, self.num_heads, self.window, self.block_size,
            key_offset=self._position_encoding(height, width),
        )
        return out.permute(0, 3, 1, 2)

    def forward(self, x: Tensor) -> Tensor:
        if self.reparam_conv is not None:
            return self.attention(x) + self.reparam_conv(x)
        conv = F.conv2d(x, *self.conv_path_weight(), padding=self.conv_shift.padding)
        return self.norm(self.attn_scale * self.attention(x) + self.conv_scale * conv)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold a, b and the eval BN into the v projection and one conv-path conv."""
        if self.reparam_conv is not None:
            return
        conv_weight, conv_bias = self.conv_path_weight()
        scale, shift = fuse_conv_bn(torch.ones_like(self.norm.weight).reshape(-1, 1, 1, 1), self.norm)
        scale = scale.reshape(-1)
        dim = self.qkv.in_channels
        # Softmax rows sum to one, so scaling v's channels scales the attention output.
        self.qkv.weight[2 * dim :].mul_((scale * self.attn_scale).reshape(-1, 1, 1, 1))
        kernel = self.conv_shift.kernel_size
        self.reparam_conv = nn.Conv2d(dim, dim, kernel, padding=self.conv_shift.padding, bias=True)
        self.reparam_conv.to(conv_weight.device, conv_weight.dtype)
        self.reparam_conv.weight.copy_(conv_weight * (scale * self.conv_scale).reshape(-1, 1, 1, 1))
        self.reparam_conv.bias.copy_(conv_bias * scale * self.conv_scale + shift)
        del self.conv_mix, self.conv_shift, self.attn_scale, self.conv_scale, self.norm
