"""The BaryIR restoration network (paper Fig. 2, section 4; layout of the released code).

Data flow for an image ``x`` of shape ``(N, 3, H, W)`` (``H, W`` padded to a
multiple of 8; ``C = 8 * dim`` latent channels; levels 1-4 at ``H``, ``H/2``,
``H/4``, ``H/8`` with ``dim, 2 dim, 4 dim, 8 dim`` channels):

1. Encoder ``E`` (Restormer levels 1-4) -> skips ``e1, e2, e3`` and the bottleneck.
2. ``z = LN(bottleneck)``: the source representation, ``z_k ~ P_k``.
3. ``z_B = LN(T(z))``: the barycenter map ``T`` (eq. 8-12); the *same* LayerNorm.
4. ``s = z - z_B``: the source-specific representation.
5. Aggregation: ``concat(z_B, s)`` -> transformer block(s) -> 1x1 conv to ``4 dim``.
6. Specific branch (when decoding uses ``s``): ``s`` is decoded into features at
   ``H/4, H/2, H`` that are added (times ``specific_scale`` = 0.8) to the skips.
7. Restormer decoder + refinement + 3x3 output conv, plus the input image
   (global residual), cropped back to ``H x W``.

``decode_from`` selects what the decoder sees (paper Table 8): ``"original"`` (``z``),
``"barycenter"`` (``z_B``), ``"original+specific"`` (``z`` and ``s``) or
``"barycenter+specific"`` (``z_B`` and ``s``, the full model). ``z``, ``z_B`` and
``s`` are always returned because the MLOT cost and the potentials need them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from baryir.errors import ConfigError
from baryir.models.blocks import (
    LAYERNORM_KINDS,
    ChannelLayerNorm,
    Downsample,
    OverlapPatchEmbed,
    TransformerBlock,
    Upsample,
    pointwise,
    transformer_stack,
)

DECODE_FROM = ("original", "barycenter", "original+specific", "barycenter+specific")
MAP_KINDS = ("transformer", "pointwise")
N_LEVELS = 4
PAD_MULTIPLE = 2 ** (N_LEVELS - 1)


@dataclass
class BaryIRConfig:
    """Hyper-parameters of :class:`BaryIR`; every channel count derives from ``dim``.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels (3 for RGB).
    dim : int
        Channels at full resolution (48 in the released code); must be even.
    num_blocks : tuple of 4 int
        Transformer blocks per encoder level 1-4 (decoder levels 1-3 mirror 1-3).
    num_refinement_blocks : int
        Blocks after decoder level 1.
    heads : tuple of 4 int
        Attention heads per level.
    ffn_expansion : float
        GDFN hidden-width factor.
    bias : bool
        Convolution biases (False in Restormer).
    layernorm : {"with_bias", "bias_free"}
        LayerNorm variant everywhere.
    map_kind : {"transformer", "pointwise"}
        Barycenter map ``T``: a stack of ``map_blocks`` transformer blocks at the
        latent width with ``heads[3]`` heads (released code: 8 blocks), or a light
        residual per-pixel MLP ``z + W2 GELU(W1 z)`` with hidden width
        ``int(latent_channels * map_expansion)``.
    map_blocks : int
        Transformer blocks in ``T`` (``map_kind="transformer"``).
    map_expansion : float
        Hidden-width factor of the pointwise ``T`` (``map_kind="pointwise"``).
    fusion_blocks : int
        Transformer blocks (``heads[2]`` heads) in the aggregation of the decoded
        representations before the 1x1 conv to ``fused_channels``.
    decoder_adapters : bool
        The released decoder adds one transformer block (``heads[2]`` heads) and a
        1x1 conv after decoder levels 3 and 2.
    specific_scale : float
        Weight of the specific-branch features added to the skips (0.8).
    decode_from : str
        One of :data:`DECODE_FROM` (Table 8).
    """

    in_channels: int = 3
    out_channels: int = 3
    dim: int = 48
    num_blocks: tuple[int, int, int, int] = (4, 6, 6, 8)
    num_refinement_blocks: int = 4
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion: float = 2.66
    bias: bool = False
    layernorm: str = "with_bias"
    map_kind: str = "transformer"
    map_blocks: int = 8
    map_expansion: float = 1.0
    fusion_blocks: int = 1
    decoder_adapters: bool = True
    specific_scale: float = 0.8
    decode_from: str = "barycenter+specific"

    def __post_init__(self) -> None:
        self.num_blocks = tuple(int(b) for b in self.num_blocks)
        self.heads = tuple(int(h) for h in self.heads)
        self._validate()

    # -- derived sizes ------------------------------------------------------------
    @property
    def level_channels(self) -> tuple[int, ...]:
        """Channels at levels 1-4: ``(dim, 2 dim, 4 dim, 8 dim)``."""
        return tuple(self.dim * 2**i for i in range(N_LEVELS))

    @property
    def latent_channels(self) -> int:
        """Channels ``C`` of ``z``, ``z_B`` and ``s`` (``8 dim``; 384 for dim 48)."""
        return self.level_channels[-1]

    @property
    def latent_stride(self) -> int:
        """Spatial down-sampling factor of the latents (8)."""
        return PAD_MULTIPLE

    @property
    def uses_specific(self) -> bool:
        """Whether the decoder sees ``s`` (aggregation input and specific branch)."""
        return self.decode_from.endswith("+specific")

    @property
    def fusion_in_channels(self) -> int:
        """Channels entering the aggregation: ``2C`` with ``s``, else ``C``."""
        return self.latent_channels * (2 if self.uses_specific else 1)

    @property
    def fused_channels(self) -> int:
        """Channels leaving the aggregation (``4 dim``; 192 for dim 48)."""
        return self.level_channels[2]

    @property
    def decoder_channels(self) -> tuple[int, ...]:
        """Widths of decoder levels 1-3: ``(2 dim, 2 dim, 4 dim)``."""
        return (2 * self.dim, *self.level_channels[1:3])

    def to_dict(self) -> dict:
        """Plain-Python dict (for checkpoints); ``BaryIRConfig(**d)`` restores it."""
        return dataclasses.asdict(self)

    # -- validation ---------------------------------------------------------------
    def _validate(self) -> None:
        def fail(message: str) -> None:
            raise ConfigError(f"invalid model config: {message}")

        if len(self.num_blocks) != N_LEVELS or len(self.heads) != N_LEVELS:
            fail(f"num_blocks and heads need {N_LEVELS} entries, got {self.num_blocks} and {self.heads}")
        if self.dim < 2 or self.dim % 2:
            fail(f"dim must be an even number >= 2, got {self.dim}")
        if min(self.num_blocks) < 0 or self.num_refinement_blocks < 0 or self.fusion_blocks < 0:
            fail("block counts must be >= 0")
        if min(self.heads) < 1:
            fail(f"heads must be >= 1, got {self.heads}")
        if self.layernorm not in LAYERNORM_KINDS:
            fail(f"layernorm must be one of {LAYERNORM_KINDS}, got {self.layernorm!r}")
        if self.map_kind not in MAP_KINDS:
            fail(f"map_kind must be one of {MAP_KINDS}, got {self.map_kind!r}")
        if self.map_kind == "transformer" and self.map_blocks < 1:
            fail("map_blocks must be >= 1 for map_kind='transformer'")
        if self.map_kind == "pointwise" and int(self.latent_channels * self.map_expansion) < 1:
            fail(f"map_expansion={self.map_expansion} gives no hidden channels")
        if self.decode_from not in DECODE_FROM:
            fail(f"decode_from must be one of {DECODE_FROM}, got {self.decode_from!r}")
        for channels, heads, where in self._attention_widths():
            if channels % heads:
                fail(f"{where}: {channels} channels are not divisible by {heads} heads; change dim or heads")

    def _attention_widths(self) -> list[tuple[int, int, str]]:
        ch, h = self.level_channels, self.heads
        widths = [(ch[i], h[i], f"encoder level {i + 1}") for i in range(N_LEVELS)]
        widths += [(self.decoder_channels[i], h[i], f"decoder level {i + 1}") for i in range(3)]
        widths += [(self.fusion_in_channels, h[2], "aggregation")]
        if self.map_kind == "transformer":
            widths.append((self.latent_channels, h[3], "barycenter map"))
        if self.decoder_adapters:
            widths += [(self.decoder_channels[i], h[2], f"decoder adapter {i + 1}") for i in (1, 2)]
        return widths


class BaryIROutput(NamedTuple):
    """What :class:`BaryIR` returns.

    Attributes
    ----------
    restored : Tensor (N, out_channels, H, W)
        The restored image (no clamping inside the network).
    z : Tensor (N, C, H'/8, W'/8)
        Source representation ``z_k`` (``H', W'`` = input padded to a multiple of 8).
    z_b : Tensor (N, C, H'/8, W'/8)
        Barycenter representation ``z_k^B = T(z_k)``.
    s : Tensor (N, C, H'/8, W'/8)
        Source-specific representation ``s_k = z_k - z_k^B``.
    """

    restored: torch.Tensor
    z: torch.Tensor
    z_b: torch.Tensor
    s: torch.Tensor


class Encoder(nn.Module):
    """Restormer encoder: levels 1-3 (kept as skips) and the level-4 bottleneck.

    ``(N, 3, H, W) -> ([e1 (N, dim, H, W), e2 (N, 2dim, H/2, W/2), e3 (N, 4dim, H/4, W/4)],
    bottleneck (N, 8dim, H/8, W/8))``.
    """

    def __init__(self, config: BaryIRConfig):
        super().__init__()
        cfg, ch = config, config.level_channels
        self.patch_embed = OverlapPatchEmbed(cfg.in_channels, ch[0], cfg.bias)
        self.levels = nn.ModuleList(
            transformer_stack(cfg.num_blocks[i], ch[i], cfg.heads[i], cfg.ffn_expansion, cfg.bias, cfg.layernorm)
            for i in range(N_LEVELS)
        )
        self.downs = nn.ModuleList(Downsample(ch[i]) for i in range(N_LEVELS - 1))

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        features = self.patch_embed(x)
        skips = []
        for level, down in zip(self.levels[:-1], self.downs):
            features = level(features)
            skips.append(features)
            features = down(features)
        return skips, self.levels[-1](features)


class PointwiseMap(nn.Module):
    """Light barycenter map: residual per-pixel MLP ``z + W2 GELU(W1 z)`` (1x1 convs)."""

    def __init__(self, channels: int, hidden: int, bias: bool = False):
        super().__init__()
        self.expand = pointwise(channels, hidden, bias)
        self.project = pointwise(hidden, channels, bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.project(F.gelu(self.expand(z)))


def build_barycenter_map(config: BaryIRConfig) -> nn.Module:
    """The map ``T`` of eq. 8-12 acting on ``(N, C, h, w)`` latents (before the shared LN)."""
    c = config.latent_channels
    if config.map_kind == "transformer":
        return transformer_stack(
            config.map_blocks, c, config.heads[3], config.ffn_expansion, config.bias, config.layernorm
        )
    return PointwiseMap(c, int(c * config.map_expansion), config.bias)


class Aggregation(nn.Module):
    """Fuse the decoded representations: transformer block(s), then 1x1 conv.

    ``(N, fusion_in_channels, h, w) -> (N, fused_channels, h, w)``.
    """

    def __init__(self, config: BaryIRConfig):
        super().__init__()
        cfg, c_in = config, config.fusion_in_channels
        self.blocks = transformer_stack(cfg.fusion_blocks, c_in, cfg.heads[2], cfg.ffn_expansion, cfg.bias, cfg.layernorm)
        self.reduce = pointwise(c_in, cfg.fused_channels, cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.blocks(x))


class SpecificBranch(nn.Module):
    """Decode ``s`` into guidance features for the encoder skips (released code).

    ``s (N, C, H/8, W/8)`` -> 1x1 conv -> up to level 3 ``(N, 4dim, H/4, W/4)``;
    at levels 3 and 2: 1x1 conv, transformer blocks, 1x1 conv, then up to the next
    level; features ``[f1 (N, dim, H, W), f2 (N, 2dim, ...), f3 (N, 4dim, ...)]``.
    """

    def __init__(self, config: BaryIRConfig):
        super().__init__()
        cfg, ch = config, config.level_channels
        self.entry = pointwise(cfg.latent_channels, cfg.latent_channels, cfg.bias)
        self.ups = nn.ModuleList(Upsample(ch[i + 1]) for i in (2, 1, 0))
        self.refines = nn.ModuleList(
            nn.Sequential(
                pointwise(ch[i], ch[i], cfg.bias),
                transformer_stack(cfg.num_blocks[i], ch[i], cfg.heads[i], cfg.ffn_expansion, cfg.bias, cfg.layernorm),
                pointwise(ch[i], ch[i], cfg.bias),
            )
            for i in (2, 1)
        )

    def forward(self, s: torch.Tensor) -> list[torch.Tensor]:
        features = self.ups[0](self.entry(s))
        guidance = [features]
        for refine, up in zip(self.refines, self.ups[1:]):
            features = up(refine(features))
            guidance.append(features)
        return guidance[::-1]


class DecoderStage(nn.Module):
    """Up-sample, concatenate the skip, reduce (1x1 conv) if needed, transformer blocks,
    optional adapter (one transformer block + 1x1 conv, released code)."""

    def __init__(self, config: BaryIRConfig, level: int, in_channels: int):
        super().__init__()
        cfg = config
        width = cfg.decoder_channels[level]
        concat = in_channels // 2 + cfg.level_channels[level]
        self.up = Upsample(in_channels)
        self.reduce = pointwise(concat, width, cfg.bias) if concat != width else nn.Identity()
        self.blocks = transformer_stack(cfg.num_blocks[level], width, cfg.heads[level], cfg.ffn_expansion, cfg.bias, cfg.layernorm)
        if cfg.decoder_adapters and level > 0:
            self.adapter = nn.Sequential(
                TransformerBlock(width, cfg.heads[2], cfg.ffn_expansion, cfg.bias, cfg.layernorm),
                pointwise(width, width, cfg.bias),
            )
        else:
            self.adapter = nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.reduce(torch.cat([self.up(x), skip], dim=1))
        return self.adapter(self.blocks(x))


class Decoder(nn.Module):
    """Restormer decoder levels 3 -> 1, refinement blocks and the 3x3 output conv.

    ``fused (N, 4dim, H/8, W/8)`` and skips ``[e1, e2, e3]`` ->
    residual ``(N, out_channels, H, W)`` (the caller adds the input image).
    """

    def __init__(self, config: BaryIRConfig):
        super().__init__()
        cfg = config
        inputs = {2: cfg.fused_channels, 1: cfg.decoder_channels[2], 0: cfg.decoder_channels[1]}
        self.stages = nn.ModuleList(DecoderStage(cfg, level, inputs[level]) for level in (2, 1, 0))
        width = cfg.decoder_channels[0]
        self.refinement = transformer_stack(cfg.num_refinement_blocks, width, cfg.heads[0], cfg.ffn_expansion, cfg.bias, cfg.layernorm)
        self.output = nn.Conv2d(width, cfg.out_channels, kernel_size=3, padding=1, bias=cfg.bias)

    def forward(self, fused: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = fused
        for stage, skip in zip(self.stages, skips[::-1]):
            x = stage(x, skip)
        return self.output(self.refinement(x))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``(N, C, H, W)`` at the bottom/right to multiples of ``multiple``.

    Reflect padding (no artificial edges); replicate padding when the image is too
    small to reflect (pad >= size).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class BaryIR(nn.Module):
    """The BaryIR network: Restormer encoder, barycenter map, aggregation, decoder.

    Forward: ``x (N, in_channels, H, W)`` of any size -> :class:`BaryIROutput`.

    Parameters
    ----------
    config : BaryIRConfig
        Architecture; see :func:`baryir.models.build_model` for the presets.

    Attributes
    ----------
    memory_format : torch.memory_format
        Layout the padded input is converted to before the encoder; every layer
        keeps it. ``torch.channels_last`` (default) lets the LayerNorms and the 1x1
        convolutions run without layout copies (:class:`baryir.models.PointwiseConv`);
        ``torch.contiguous_format`` gives the same values up to float rounding. The
        outputs carry this layout too (their values and shapes do not depend on it).
    """

    def __init__(self, config: BaryIRConfig):
        super().__init__()
        self.config = config
        self.memory_format = torch.channels_last
        self.encoder = Encoder(config)
        self.latent_norm = ChannelLayerNorm(config.latent_channels, config.layernorm)
        self.barycenter_map = build_barycenter_map(config)
        self.aggregation = Aggregation(config)
        self.specific_branch = SpecificBranch(config) if config.uses_specific else None
        self.decoder = Decoder(config)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The trainable parameters in three disjoint groups.

        ``"encoder"`` (encoder and the shared latent LayerNorm: everything ``z``
        depends on), ``"map"`` (the barycenter map ``T``) and ``"decoder"`` (the
        aggregation, the specific branch and the decoder: what only the restored image
        depends on).
        """
        parts = {
            "encoder": (self.encoder, self.latent_norm),
            "map": (self.barycenter_map,),
            "decoder": (self.aggregation, self.specific_branch, self.decoder),
        }
        return {name: [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
                for name, modules in parts.items()}

    def latents(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Encode a padded image: ``(z, z_b, s, skips)`` with ``z_b = LN(T(z))``, ``s = z - z_b``."""
        skips, bottleneck = self.encoder(x)
        z = self.latent_norm(bottleneck)
        z_b = self.latent_norm(self.barycenter_map(z))
        return z, z_b, z - z_b, skips

    def barycenter_latent(self, x: torch.Tensor) -> torch.Tensor:
        """``z_B = LN(T(z))`` of an image batch without running the decoder.

        The potentials step needs only ``z_B`` (eq. 12); this skips the specific
        branch, the aggregation and the decoder (about 65 % of a forward pass of the
        ``reference`` model) and gives exactly ``forward(x).z_b``.

        ``x (N, in_channels, H, W) -> (N, C, H'/8, W'/8)``.
        """
        return self.latents(self._pad(x))[1]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` padded to a multiple of 8 (:func:`pad_to_multiple`) in :attr:`memory_format`."""
        return pad_to_multiple(x, PAD_MULTIPLE).contiguous(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> BaryIROutput:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected input (N, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        padded = self._pad(x)
        z, z_b, s, skips = self.latents(padded)
        decoded = {"original": z, "barycenter": z_b}[self.config.decode_from.split("+")[0]]
        if self.specific_branch is not None:
            decoded = torch.cat([decoded, s], dim=1)
            scale = self.config.specific_scale
            skips = [skip + scale * guide for skip, guide in zip(skips, self.specific_branch(s))]
        restored = self.decoder(self.aggregation(decoded), skips) + padded
        return BaryIROutput(restored[..., :h, :w], z, z_b, s)


def count_parameters(module: nn.Module | None) -> int:
    """Number of scalar parameters in ``module`` (0 for None)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_table(model: BaryIR) -> dict[str, int]:
    """Parameters per component (``encoder``, ``latent_norm``, ``barycenter_map``,
    ``aggregation``, ``specific_branch``, ``decoder``) plus ``total``."""
    table = {name: count_parameters(child) for name, child in model.named_children()}
    table.setdefault("specific_branch", 0)
    table["total"] = count_parameters(model)
    return table
