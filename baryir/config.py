"""Training configuration: nested dataclasses read from YAML with strict checks.

A training run is described by one :class:`TrainConfig` with six sections::

    data:   where the images are and how patches are cut
    model:  which network preset, overrides, and the potentials' architecture
    cost:   the MLOT transport cost of eq. 4 (preset, gamma, tau)
    optim:  optimisers, learning-rate schedule, the loss weights of eq. 12
    loop:   length, batch size (per process), device, precision, logging, validation
    output: where checkpoints, history and figures go

:func:`load_config` reads a YAML file or a config shipped with the package (by
name: ``aio3``, ``aio5``, ``demo``; :func:`config_names` lists them), applies dotted
command-line overrides (``optim.lr=3e-4``) and checks every key and type: an unknown
key or a value of the wrong type raises :class:`~baryir.errors.ConfigError` naming
the key, instead of being ignored and silently training something else. The free-form
``model.overrides`` and ``cost.overrides`` are checked against the fields of
:class:`baryir.models.BaryIRConfig` and :class:`baryir.costs.CostSettings`.

A config object can be changed after it was built (``config.loop.steps = 10``);
:func:`validate_config` checks it again, and the trainer calls it before using a
config, so a later change cannot skip the checks.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import types
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
    repetition factors (task name -> int, e.g. ``{derain: 3}``). ``online`` lists tasks
    whose degradation is synthesised afresh for every training sample from the clean
    patch instead of read from the degraded file (e.g. ``[deblur]``; see
    :class:`baryir.data.AllInOneTrainDataset`).
    """

    root: str = "data/demo_benchmark"
    benchmark: str = "demo"
    patch_size: int = 64
    source_weights: Literal["paper", "reference"] = "reference"
    validate: bool = True
    oversample: dict[str, Any] = field(default_factory=dict)
    online: list[str] = field(default_factory=list)
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
    ``logger`` also sends the history and validation images to TensorBoard or
    Weights & Biases (:mod:`baryir.loggers`; optional extras).
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
    logger: Literal["none", "tensorboard", "wandb"] = "none"


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
    if origin is typing.Union or origin is types.UnionType:  # Optional[X] or X | None
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
    if origin is list:  # list[str]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [_coerce(item, args[0], f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is tuple:  # tuple[int, ...] or tuple[int, int, int, int]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        elif len(value) != len(args):
            raise ConfigError(f"config key '{key}': expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(item, arg, f"{key}[{i}]") for i, (item, arg) in enumerate(zip(value, args)))
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


def _check_fields(cls: type, values: dict, prefix: str) -> dict:
    """Check a mapping of field overrides of dataclass ``cls``: names and types."""
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}.{unknown[0]}'; valid keys here: {', '.join(sorted(hints))}"
        )
    return {name: _coerce(value, hints[name], f"{prefix}.{name}") for name, value in values.items()}


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
    _check_model_and_cost(config)


def _check_model_and_cost(config: TrainConfig) -> None:
    """Check the network preset and the two ``overrides`` mappings (names, types, values)."""
    from baryir.costs import CostSettings, MLOTCost  # imports torch: only when a config is checked
    from baryir.models.network import BaryIRConfig
    from baryir.models.presets import PRESETS, config_from_preset

    model, cost = config.model, config.cost
    if model.preset not in PRESETS:
        raise ConfigError(
            f"config key 'model.preset': unknown preset {model.preset!r}; choose one of {', '.join(PRESETS)}"
        )
    model.overrides = _check_fields(BaryIRConfig, model.overrides, "model.overrides")
    cost.overrides = _check_fields(CostSettings, cost.overrides, "cost.overrides")
    for key in ("gamma", "tau"):
        if key in cost.overrides:
            raise ConfigError(f"config key 'cost.overrides.{key}': use cost.{key}, which is its own key")
    try:
        config_from_preset(model.preset, **model.overrides)
    except ConfigError as err:
        raise ConfigError(f"config section 'model': {err}") from None
    try:
        MLOTCost(cost.preset, gamma=cost.gamma, tau=cost.tau, **cost.overrides)
    except ConfigError as err:
        raise ConfigError(f"config section 'cost': {err}") from None


def validate_config(config: TrainConfig) -> TrainConfig:
    """Check an existing config again and return a checked copy.

    A :class:`TrainConfig` is checked when it is built, but its fields can be
    changed afterwards (``config.loop.steps = "ten"``); the trainer calls this
    before it uses a config.

    Raises
    ------
    ConfigError
        Unknown key, wrong type or invalid value, naming the key.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"expected a TrainConfig, got {type(config).__name__}")
    return config_from_dict(config_to_dict(config))


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


def _packaged_configs():
    return importlib.resources.files("baryir") / "configs"


def config_names() -> list[str]:
    """Names of the configs shipped with the package (``aio3``, ``aio5``, ``demo``, ...)."""
    return sorted(
        entry.name.removesuffix(".yaml") for entry in _packaged_configs().iterdir() if entry.name.endswith(".yaml")
    )


def config_text(source: str | Path) -> tuple[str, str]:
    """The YAML text of a config and where it came from.

    Parameters
    ----------
    source : str or Path
        A YAML file, or the name of a config shipped with the package
        (:func:`config_names`). An existing file wins over a packaged name.

    Returns
    -------
    text : str
    label : str
        The file path, or ``"packaged config NAME"``.

    Raises
    ------
    ConfigError
        Neither an existing file nor a packaged config's name.
    """
    path = Path(source)
    if path.is_file():
        return path.read_text(), str(path)
    name = str(source)
    if name in config_names():
        return (_packaged_configs() / f"{name}.yaml").read_text(), f"packaged config {name}"
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        raise ConfigError(f"config file {path} does not exist")
    raise ConfigError(
        f"unknown config {name!r}: not a file, nor a packaged config ({', '.join(config_names())}); "
        "see baryir config list"
    )


def read_config_values(source: str | Path) -> dict:
    """The nested mapping of a config file or packaged config (not yet checked)."""
    text, label = config_text(source)
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config {label} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config {label} must hold a mapping of sections")
    return values


def load_config(source: str | Path | None, overrides: typing.Iterable[str] = ()) -> TrainConfig:
    """Read a YAML training config, apply overrides, and check it.

    Parameters
    ----------
    source : str or Path or None
        A YAML file, or the name of a config shipped with the package (``"aio3"``;
        :func:`config_names`); ``None`` starts from the defaults.
    overrides : iterable of str
        Dotted ``section.key=value`` strings, applied after the file.

    Raises
    ------
    ConfigError
        Missing or unparsable file, unknown name, unknown key, wrong type or
        invalid value.
    """
    values = {} if source is None else read_config_values(source)
    return config_from_dict(apply_overrides(values, overrides))


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write ``config`` as YAML (readable back with :func:`load_config`)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


# --- command line ----------------------------------------------------------------


def register(subparsers) -> None:
    """Add ``baryir config list`` and ``baryir config show NAME [--set section.key=value ...]``."""
    parser = subparsers.add_parser(
        "config", help="list the packaged training configs or print one",
        description="The training configs shipped with the package (baryir train --config NAME uses them).",
    )
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="names of the packaged configs")
    listing.set_defaults(func=run_list)
    show = actions.add_parser(
        "show", help="print a config as YAML (a packaged name or a file)",
        description=(
            "Print a config as YAML, to start your own from it: baryir config show aio3 > my.yaml. "
            "Without --set the file is printed as shipped (with its comments); with --set the "
            "overrides are applied and checked, and every key is printed."
        ),
    )
    show.add_argument("name", help="packaged config name (baryir config list) or YAML file")
    show.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                      metavar="section.key=value", help="overrides, e.g. --set loop.steps=100 data.root=/data")
    show.set_defaults(func=run_show)


def run_list(args) -> int:
    """Entry point of ``baryir config list``: one name and first comment line per config."""
    names = config_names()
    width = max(map(len, names)) + 2
    for name in names:
        text, _ = config_text(name)
        first = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), "")
        print(f"{name:<{width}}{first}")
    return 0


def run_show(args) -> int:
    """Entry point of ``baryir config show``."""
    if not args.overrides:
        print(config_text(args.name)[0], end="")
        return 0
    config = load_config(args.name, args.overrides)
    print(yaml.safe_dump(config_to_dict(config), sort_keys=False), end="")
    return 0
