"""The BaryIR network: Restormer blocks, the barycenter map, potentials and presets.

>>> import torch
>>> from baryir.models import build_model
>>> model = build_model("tiny")
>>> out = model(torch.rand(1, 3, 37, 50))  # BaryIROutput(restored, z, z_b, s)
>>> tuple(out.restored.shape), tuple(out.z_b.shape)
((1, 3, 37, 50), (1, 64, 5, 7))
"""

from baryir.models.blocks import (
    GDFN,
    MDTA,
    ChannelLayerNorm,
    Downsample,
    OverlapPatchEmbed,
    PointwiseConv,
    TransformerBlock,
    Upsample,
)
from baryir.models.network import (
    DECODE_FROM,
    MAP_KINDS,
    BaryIR,
    BaryIRConfig,
    BaryIROutput,
    count_parameters,
    pad_to_multiple,
    parameter_table,
)
from baryir.models.potentials import POTENTIAL_KINDS, Potentials
from baryir.models.presets import PRESETS, build_model, build_potentials, config_from_preset

__all__ = [
    "BaryIR",
    "BaryIRConfig",
    "BaryIROutput",
    "ChannelLayerNorm",
    "DECODE_FROM",
    "Downsample",
    "GDFN",
    "MAP_KINDS",
    "MDTA",
    "OverlapPatchEmbed",
    "POTENTIAL_KINDS",
    "PRESETS",
    "PointwiseConv",
    "Potentials",
    "TransformerBlock",
    "Upsample",
    "build_model",
    "build_potentials",
    "config_from_preset",
    "count_parameters",
    "pad_to_multiple",
    "parameter_table",
]
