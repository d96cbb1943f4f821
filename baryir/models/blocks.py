"""Restormer building blocks used by the BaryIR encoder, barycenter map and decoders.

The backbone of BaryIR is Restormer (Zamir et al., CVPR 2022), as stated under
Fig. 2 of the paper. Every block works on feature maps of shape ``(N, C, H, W)``
and keeps ``H, W`` unless it is a resampling block.

Blocks
------
- :class:`ChannelLayerNorm` -- LayerNorm over the channels of each pixel (with or
  without bias).
- :class:`MDTA` -- multi-Dconv-head transposed attention: attention between
  *channels*, so the cost grows linearly with the number of pixels.
- :class:`GDFN` -- gated-Dconv feed-forward network (GELU gate).
- :class:`TransformerBlock` -- pre-norm residual ``x + MDTA(LN x)``, ``x + GDFN(LN x)``.
- :class:`OverlapPatchEmbed` -- 3x3 convolution from image to features.
- :class:`Downsample` / :class:`Upsample` -- pixel-unshuffle / pixel-shuffle resampling.
- :class:`PointwiseConv` -- a 1x1 convolution computed as one matrix product over
  all pixels.

Memory layout
-------------
The blocks accept any memory format. :class:`baryir.models.BaryIR` runs them in
channels-last format (``torch.channels_last``: the ``C`` values of a pixel are
adjacent), where the LayerNorm and the 1x1 convolutions read their input as an
``(N, H, W, C)`` matrix without copies; the outputs are channels-last as well.
Values do not depend on the layout (up to float rounding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LAYERNORM_KINDS = ("with_bias", "bias_free")
NORMALIZE_EPS = 1e-12  # lower bound of the q/k row norms (F.normalize's default)


class ChannelLayerNorm(nn.Module):
    """Layer normalisation over the channel axis of every pixel.

    ``with_bias``: ``(x - mean) / sqrt(var + eps) * weight + bias``.
    ``bias_free``: ``x / sqrt(var + eps) * weight`` (the variance is still taken
    around the mean, as in Restormer).

    ``with_bias`` runs PyTorch's fused ``F.layer_norm`` kernel; the released code
    spells the same formula out (mean, variance, subtract, divide, scale, shift),
    which makes a ``reference``-size training step on CPU about 10 % slower (see
    ``benchmarks/perf.py``).

    Parameters
    ----------
    channels : int
        Number of channels ``C``.
    kind : {"with_bias", "bias_free"}
        Normalisation variant.
    eps : float
        Added to the (biased) variance.

    Notes
    -----
    Shape ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, kind: str = "with_bias", eps: float = 1e-5):
        super().__init__()
        if kind not in LAYERNORM_KINDS:
            raise ValueError(f"layer norm kind must be one of {LAYERNORM_KINDS}, got {kind!r}")
        self.kind = kind
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if kind == "with_bias" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels_last = x.permute(0, 2, 3, 1)
        if self.bias is not None:
            normed = F.layer_norm(pixels_last, pixels_last.shape[-1:], self.weight, self.bias, self.eps)
        else:
            var = pixels_last.var(dim=-1, keepdim=True, unbiased=False)
            normed = pixels_last * torch.rsqrt(var + self.eps) * self.weight
        return normed.permute(0, 3, 1, 2)


class MDTA(nn.Module):
    """Multi-Dconv-head transposed attention (channel attention per head).

    ``q, k, v`` come from a 1x1 convolution followed by a 3x3 depthwise
    convolution. Per head, ``q`` and ``k`` (each ``(C/h, H*W)``) are L2-normalised
    over pixels; the ``(C/h, C/h)`` attention map is ``softmax(q^ k^^T * t)`` with
    ``q^ = q / |q|``, ``k^ = k / |k|`` (row norms, at least 1e-12, as in
    ``F.normalize``) and a learnable temperature ``t`` per head (initialised to 1).

    The normalisation is applied to the small Gram matrix instead of to ``q`` and
    ``k``: ``q^ k^^T = (q k^T) / (|q| |k|^T)``, which is the same map without two
    divisions over the ``(C/h, H*W)`` tensors and their backward (about 8 % of a
    training step of the ``reference`` model on CPU; equal up to float rounding to
    the released form, see ``benchmarks/perf.py``).

    Parameters
    ----------
    channels : int
        ``C``; must be divisible by ``heads``.
    heads : int
        Number of attention heads ``h``.
    bias : bool
        Whether the convolutions have biases.
    """

    def __init__(self, channels: int, heads: int, bias: bool = False):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.to_qkv = pointwise(channels, 3 * channels, bias)
        self.qkv_dwconv = nn.Conv2d(
            3 * channels, 3 * channels, kernel_size=3, padding=1, groups=3 * channels, bias=bias
        )
        self.project_out = pointwise(channels, channels, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv_dwconv(self.to_qkv(x))
        # split the channels into (q/k/v, head, C/h) and merge the pixels: views in either layout
        q, k, v = qkv.unflatten(1, (3, self.heads, c // self.heads)).flatten(-2).unbind(1)
        return self.project_out((self.attention_map(q, k) @ v).reshape(n, c, h, w))

    def attention_map(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """``softmax(q^ k^^T * t)`` per head: ``(N, h, C/h, H*W)`` twice -> ``(N, h, C/h, C/h)``."""
        q_norm = torch.linalg.vector_norm(q, dim=-1, keepdim=True).clamp_min(NORMALIZE_EPS)
        k_norm = torch.linalg.vector_norm(k, dim=-1, keepdim=True).clamp_min(NORMALIZE_EPS)
        cosine = (q @ k.transpose(-2, -1)) / (q_norm * k_norm.transpose(-2, -1))
        return (cosine * self.temperature).softmax(dim=-1)


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network.

    ``x -> 1x1 conv (C -> 2m) -> 3x3 depthwise -> split (a, b) -> GELU(a) * b ->
    1x1 conv (m -> C)`` with ``m = int(C * expansion)``.

    Parameters
    ----------
    channels : int
        ``C``.
    expansion : float
        Hidden-width factor (2.66 in Restormer).
    bias : bool
        Whether the convolutions have biases.
    """

    def __init__(self, channels: int, expansion: float, bias: bool = False):
        super().__init__()
        hidden = int(channels * expansion)
        self.project_in = pointwise(channels, 2 * hidden, bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, kernel_size=3, padding=1, groups=2 * hidden, bias=bias)
        self.project_out = pointwise(hidden, channels, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    """Restormer transformer block: ``x + MDTA(LN(x))`` then ``x + GDFN(LN(x))``.

    Parameters
    ----------
    channels, heads : int
        Width and attention heads.
    expansion : float
        GDFN hidden-width factor.
    bias : bool
        Convolution biases.
    layernorm : {"with_bias", "bias_free"}
        Normalisation variant.
    """

    def __init__(self, channels: int, heads: int, expansion: float, bias: bool = False, layernorm: str = "with_bias"):
        super().__init__()
        self.norm1 = ChannelLayerNorm(channels, layernorm)
        self.attention = MDTA(channels, heads, bias)
        self.norm2 = ChannelLayerNorm(channels, layernorm)
        self.feed_forward = GDFN(channels, expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


def transformer_stack(
    n_blocks: int, channels: int, heads: int, expansion: float, bias: bool = False, layernorm: str = "with_bias"
) -> nn.Sequential:
    """``n_blocks`` :class:`TransformerBlock` s in sequence (identity when 0)."""
    return nn.Sequential(*(TransformerBlock(channels, heads, expansion, bias, layernorm) for _ in range(n_blocks)))


class OverlapPatchEmbed(nn.Module):
    """Overlapped patch embedding: a 3x3 convolution ``(N, c_in, H, W) -> (N, C, H, W)``."""

    def __init__(self, in_channels: int, channels: int, bias: bool = False):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """3x3 conv ``C -> C/2`` then pixel-unshuffle: ``(N, C, H, W) -> (N, 2C, H/2, W/2)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1, bias=False)
        self.unshuffle = nn.PixelUnshuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unshuffle(self.conv(x))


class Upsample(nn.Module):
    """3x3 conv ``C -> 2C`` then pixel-shuffle: ``(N, C, H, W) -> (N, C/2, 2H, 2W)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1, bias=False)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class PointwiseConv(nn.Conv2d):
    """A 1x1 convolution (per-pixel linear map of the channels) as one matrix product.

    ``y[n, :, i, j] = W x[n, :, i, j] + b``, computed as ``F.linear`` over the
    ``(N, H, W, C)`` view of the input: one GEMM for all pixels of the batch. On a
    channels-last input the view needs no copy and the output is channels-last.
    PyTorch's own 1x1 convolution on one CPU thread at batch < 16 runs one GEMM per
    sample and converts a channels-last input to the contiguous layout first. In
    channels-last format this class makes a training step on one CPU thread 1.04-1.15x
    faster (``benchmarks/perf.py``; ``benchmarks/RESULTS.md``). The parameters are those of
    ``nn.Conv2d`` (``weight (C_out, C_in, 1, 1)``), so state dicts are unchanged.

    Notes
    -----
    Shape ``(N, C_in, H, W) -> (N, C_out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels_last = F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias)
        return pixels_last.permute(0, 3, 1, 2)


def pointwise(in_channels: int, out_channels: int, bias: bool = False) -> PointwiseConv:
    """A 1x1 convolution (per-pixel linear map of the channels), see :class:`PointwiseConv`."""
    return PointwiseConv(in_channels, out_channels, bias)
