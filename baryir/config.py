"""Training configuration: nested dataclasses read from YAML with strict checks.

A training run is described by one :class:`TrainConfig` with six sections::

    data:   where the images are and how patches are cut
    model:  which network preset, overrides, and the potentials' architecture
    cost:   the MLOT transport cost of eq. 4 (preset, gamma, tau)
    optim:  optimisers, learning-rate schedule, the loss weights of eq. 12
    loop:   length, batch size (per process), device, precision, logging, validation
    output: where checkpoints, history and figures go

:func:`load_config` reads a YAML file, applies dotted command-line overrides
(``optim.lr=3e-4``) and checks every key and type: an unknown key or a value of
the wrong type raises :class:`~baryir.errors.ConfigError` naming the key, instead
of being ignored and silently training something else.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from baryir.errors import ConfigError


@dataclass
class DataConfig:
    """Training data.

    ``benchmark`` is one of the layouts of :func:`baryir.data.benchmark_spec`.
    With ``validate``, the validation split ``ROOT/Val/`` (the test-set layout, other
    images than ``Test/``; the demo benchmark has one) is scored during training
    for keep-best; sets absent from ``Val/`` are skipped. The test sets are never
    used during training. ``oversample`` overrides the benchmark's per-task
    repetition factors (task name -> int, e.g. ``{derain: 3}``).
    """

    root: str = "data/demo_benchmark"
    benchmark: str = "demo"
    patch_size: int = 64
    source_weights: Literal["paper", "reference"] = "reference"
    validate: bool = True
    oversample: dict[str, Any] = field(default_factory=dict)
    num_workers: int = 0


@dataclass
class ModelConfig:
    """Network: a preset of :mod:`baryir.models.presets` plus field overrides.

    ``potentials`` selects the potentials' architecture: ``"reference"`` (the
    released code's per-source MLPs tied to the patch size) or ``"pooled"``
    (resolution independent). ``init`` starts a fresh run (not a resume) from the
    network weights of a checkpoint path or of a shipped model's name
    (:mod:`baryir.pretrained`), for fine-tuning; the potentials, optimisers and
    schedules start fresh.
    """

    preset: str = "tiny"
    overrides: dict[str, Any] = field(default_factory=dict)
    potentials: Literal["pooled", "reference"] = "pooled"
    init: Optional[str] = None


@dataclass
class CostConfig:
    """MLOT cost of eq. 4; ``None`` keeps the preset's value.

    ``overrides`` are further :class:`baryir.costs.CostSettings` fields (e.g.
    ``distance: sphere`` or ``use_orthogonality: false`` for the ablations).
    """

    preset: Literal["paper", "reference"] = "reference"
    gamma: Optional[float] = None
    tau: Optional[float] = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimisers, schedule and the weights of the losses of eq. 12.

    The restoration network and the potentials get one optimiser each, of the
    same kind. ``decay_every`` counts epochs when ``loop.epochs`` is set and steps
    otherwise (the released code decays by ``decay_factor`` = 0.1 after 50 of 56
    epochs on the 3-task benchmark). ``warmup_steps`` always counts steps.
    ``grad_clip`` (max global L2 norm) applies to both parameter groups.

    ``objective`` chooses how a mixed batch estimates ``sum_k lambda_k E_{P_k}[.]``
    (:func:`baryir.barycenter.estimator_coefficients`): ``"reference"`` is the released
    trainer's per-sample mean ``mean_i lambda_{k(i)} [...]``; ``"paper"`` is eq. 12's
    per-source expectation, estimated without bias at any batch size by importance
    weights ``lambda_k / p_k`` (``p_k``: the source's share of the training samples).
    ``None`` follows ``cost.preset``.
    """

    name: Literal["rmsprop", "adam", "adamw"] = "rmsprop"
    lr: float = 1e-4
    potentials_lr: Optional[float] = None
    weight_decay: float = 0.0
    schedule: Literal["constant", "step", "cosine"] = "constant"
    decay_every: Optional[int] = None
    decay_factor: float = 0.1
    warmup_steps: int = 0
    min_lr_factor: float = 0.0
    grad_clip: Optional[float] = None
    l1_weight: float = 10000.0
    barycenter_weight: float = 1.0
    congruence_weight: float = 10.0
    objective: Optional[Literal["paper", "reference"]] = None


@dataclass
class LoopConfig:
    """Length, batch, device and bookkeeping of the training loop.

    Give exactly one of ``steps`` and ``epochs`` (set the other to ``null``). ``batch_size`` is per process
    (the effective batch under DDP is ``batch_size * world_size``).
    ``potentials_forward="second"`` recomputes ``z_B`` with the updated network
    for the potentials step (released code; encoder and ``T`` only); ``"reuse"`` reuses the detached
    ``z_B`` of the restoration step (one forward pass fewer). ``val_every`` (steps,
    0 = only at the end) scores the validation split, ``val_images`` images per
    set (0 = all); ``checkpoint_every`` (0 = only at the end) writes ``last.pt``.
    """

    steps: Optional[int] = 1000
    epochs: Optional[int] = None
    batch_size: int = 3
    potentials_forward: Literal["second", "reuse"] = "second"
    device: str = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    seed: int = 0
    log_every: int = 10
    val_every: int = 0
    val_images: int = 0
    checkpoint_every: int = 0
    keep_best: bool = True


@dataclass
class OutputConfig:
    """Run folder: ``last.pt``, ``best.pt``, ``history.csv``/``.json``, ``config.yaml``."""

    dir: str = "runs/demo"


@dataclass
class TrainConfig:
    """A complete training run (see the module docstring for the sections)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        check_config(self)


_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widened to float)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}': got {value!r}, expected {_type_name(tp)}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is float:
        # PyYAML reads "1e-4" (no dot) as a string: accept numeric text for floats.
        if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool or tp is str:
        if isinstance(value, tp):
            return value
    else:  # pragma: no cover - only the annotations above are used
        raise TypeError(f"unsupported annotation {tp!r} for '{key}'")
    raise ConfigError(
        f"config key '{key}': expected {_type_name(tp)}, got {value!r} ({type(value).__name__})"
    )


def _build(cls: type, values: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        where = f"section '{prefix}'" if prefix else "the top level"
        raise ConfigError(f"config {where} must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(
            f"unknown config key '{key}'; valid keys here: {', '.join(sorted(names))}"
        )
    if cls is LoopConfig and values.get("epochs") is not None and "steps" not in values:
        values = {**values, "steps": None}  # giving epochs replaces the default length
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
    return cls(**kwargs)


def check_config(config: TrainConfig) -> None:
    """Check values that types alone do not capture; raise ConfigError naming the key."""
    loop, optim, data = config.loop, config.optim, config.data
    if (loop.steps is None) == (loop.epochs is None):
        raise ConfigError("config keys 'loop.steps' and 'loop.epochs': set exactly one of them")
    positive = {
        "loop.steps": loop.steps,
        "loop.epochs": loop.epochs,
        "loop.batch_size": loop.batch_size,
        "data.patch_size": data.patch_size,
        "optim.lr": optim.lr,
        "optim.potentials_lr": optim.potentials_lr,
        "optim.decay_every": optim.decay_every,
        "optim.grad_clip": optim.grad_clip,
    }
    for key, value in positive.items():
        if value is not None and value <= 0:
            raise ConfigError(f"config key '{key}' must be positive, got {value}")
    if data.patch_size % 8:
        raise ConfigError(
            f"config key 'data.patch_size' must be a multiple of 8 (three 2x downsamplings), "
            f"got {data.patch_size}"
        )
    if optim.schedule == "step" and optim.decay_every is None:
        raise ConfigError("config key 'optim.decay_every' is required when optim.schedule is 'step'")


def config_from_dict(values: dict) -> TrainConfig:
    """Build and check a :class:`TrainConfig` from a nested mapping."""
    return _build(TrainConfig, values, "")


def config_to_dict(config: TrainConfig) -> dict:
    """Nested plain-Python mapping of ``config`` (YAML- and checkpoint-safe)."""
    return dataclasses.asdict(config)


def apply_overrides(values: dict, overrides: typing.Iterable[str]) -> dict:
    """Apply dotted ``key.sub=value`` overrides to a nested mapping (values parsed as YAML).

    Raises
    ------
    ConfigError
        If an override has no ``=`` or does not name a section and key.
    """
    values = {k: (dict(v) if isinstance(v, dict) else v) for k, v in values.items()}
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(
                f"override {item!r} is not of the form section.key=value (e.g. optim.lr=3e-4)"
            )
        node = values
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: '{part}' is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(text) if text.strip() else None
    return values


def load_config(path: str | Path | None, overrides: typing.Iterable[str] = ()) -> TrainConfig:
    """Read a YAML training config, apply overrides, and check it.

    Parameters
    ----------
    path : str or Path or None
        YAML file; ``None`` starts from the defaults.
    overrides : iterable of str
        Dotted ``section.key=value`` strings, applied after the file.

    Raises
    ------
    ConfigError
        Missing or unparsable file, unknown key, wrong type or invalid value.
    """
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections")
    return config_from_dict(apply_overrides(values, overrides))


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write ``config`` as YAML (readable back with :func:`load_config`)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
