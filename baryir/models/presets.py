"""Named model configurations and the builders the rest of the package uses.

``reference``
    The layout of the authors' released code (Restormer dim 48, blocks
    [4, 6, 6, 8], 4 refinement blocks, heads [1, 2, 4, 8], GDFN 2.66; ``T`` = 8
    transformer blocks at 384 channels; aggregation block at 768 channels; the
    specific branch from ``s``; decoder adapters).
``paper-light``
    The same backbone with a light barycenter map (the paper calls ``T``
    "lightweight"): a residual per-pixel MLP ``z + W2 GELU(W1 z)`` at 384 channels.
``small``
    A 2.3 M-parameter version (dim 16, blocks [1, 2, 2, 2]) for models trained on a
    CPU in hours: the shipped demo model (:mod:`baryir.pretrained`).
``tiny``
    The same layout scaled down for CPU tests and quick-mode notebooks.
"""

from __future__ import annotations

import dataclasses

from baryir.errors import ConfigError
from baryir.models.network import BaryIR, BaryIRConfig
from baryir.models.potentials import Potentials

_REFERENCE = BaryIRConfig()

PRESETS: dict[str, BaryIRConfig] = {
    "reference": _REFERENCE,
    "paper-light": dataclasses.replace(_REFERENCE, map_kind="pointwise", map_expansion=1.0),
    "small": BaryIRConfig(
        dim=16,
        num_blocks=(1, 2, 2, 2),
        num_refinement_blocks=1,
        heads=(1, 1, 2, 4),
        ffn_expansion=2.0,
        map_blocks=1,
    ),
    "tiny": BaryIRConfig(
        dim=8,
        num_blocks=(1, 1, 1, 1),
        num_refinement_blocks=1,
        heads=(1, 1, 2, 2),
        ffn_expansion=2.0,
        map_blocks=1,
    ),
}


def config_from_preset(name: str, **overrides) -> BaryIRConfig:
    """A fresh :class:`BaryIRConfig` from a preset name, with field overrides.

    Raises
    ------
    ConfigError
        Unknown preset or field, or an invalid resulting config.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(BaryIRConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown model config field(s) {unknown}; valid fields: {sorted(fields)}")
    return dataclasses.replace(PRESETS[name], **overrides)


def build_model(preset: str | BaryIRConfig = "tiny", **overrides) -> BaryIR:
    """Build :class:`BaryIR` from a preset name or a config (overrides applied to either)."""
    if isinstance(preset, BaryIRConfig):
        config = dataclasses.replace(preset, **overrides)  # a copy: presets stay untouched
    else:
        config = config_from_preset(preset, **overrides)
    return BaryIR(config)


def build_potentials(
    config: BaryIRConfig, n_sources: int, kind: str = "pooled", patch_size: int | None = None, hidden: int = 64
) -> Potentials:
    """:class:`Potentials` matching a model config (``channels = latent_channels``).

    ``patch_size`` (training crop side) is needed for ``kind="reference"``, where it must
    be a multiple of ``config.latent_stride``; other kinds ignore it.
    """
    latent_size = None
    if kind == "reference" and patch_size is not None:
        if patch_size % config.latent_stride:
            raise ConfigError(f"patch_size must be a multiple of {config.latent_stride}, got {patch_size}")
        latent_size = patch_size // config.latent_stride
    return Potentials(n_sources, config.latent_channels, kind=kind, latent_size=latent_size, hidden=hidden)
