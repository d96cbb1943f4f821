"""What a training run costs, estimated without a GPU: FLOPs, memory, iterations, hours.

Everything here is counted, not timed: the network is built on PyTorch's ``meta``
device (shapes only, no memory, no arithmetic) and run under
:class:`torch.utils.flop_counter.FlopCounterMode`, which counts the matrix products
and convolutions at 2 FLOPs per multiply-add. Normalisations, activations, softmax
and element-wise operations are not counted; they are memory-bound and often take a
large share of the time on a GPU, so a FLOP count gives a *lower bound* on the work,
and time = FLOPs / (sustained FLOP/s) is only as good as the assumed sustained rate.
Measure that rate on your card (``python benchmarks/gpu_check.py``) and use it here.

For the released network (``reference`` preset, 53.5 M parameters) one forward pass
of a 128 x 128 image counts 106.4 GFLOPs.

One training iteration (``baryir.train``, the released procedure) is a forward and a
backward pass of the whole network on the batch, plus, with
``loop.potentials_forward=second``, a second forward pass through the encoder and
the barycenter map for the potentials' step. The backward pass is taken as twice the
forward pass: the gradients with respect to a layer's input and to its weights each
cost one forward product (FlopCounterMode measures exactly 2x for the matrix products;
its formula for the backward of grouped convolutions ignores the groups in the PyTorch
versions we tried, and would count the depthwise convolutions about 30x too high).
The potentials add under 0.1 % and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from baryir.config import TrainConfig
from baryir.data.layout import TASKS, benchmark_spec
from baryir.errors import ConfigError
from baryir.models import build_model, build_potentials, count_parameters

#: Modules that the potentials' second forward pass runs (``potentials_forward=second``).
SECOND_PASS_MODULES = ("encoder", "latent_norm", "barycenter_map")

#: Optimiser state kept per parameter, in parameter-sized tensors.
OPTIMIZER_STATES = {"rmsprop": 1, "adam": 2, "adamw": 2, "sgd": 0}


_META_MODELS: dict[str, torch.nn.Module] = {}
_COUNTS: dict[str, object] = {}


def _counted(compute, *key):
    """``compute()``, remembered per key: the counts are deterministic and cost a meta forward pass."""
    name = repr(key)
    if name not in _COUNTS:
        _COUNTS[name] = compute()
    return _COUNTS[name]


def _meta_model(preset: str, **overrides):
    """The network on the meta device (built once per preset and overrides; never trained)."""
    key = repr((preset, sorted(overrides.items())))
    if key not in _META_MODELS:
        with torch.device("meta"):
            _META_MODELS[key] = build_model(preset, **overrides)
    return _META_MODELS[key]


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def forward_flops(preset: str = "reference", height: int = 128, width: int = 128, batch: int = 1,
                  **overrides) -> dict[str, int]:
    """FLOPs of one forward pass, per top-level module of the network.

    Parameters
    ----------
    preset : str
        A :data:`baryir.models.PRESETS` name.
    height, width, batch : int
        Input shape ``(batch, 3, height, width)``.
    **overrides
        :class:`baryir.models.BaryIRConfig` fields, e.g. ``decode_from="original"``.

    Returns
    -------
    dict of str -> int
        FLOPs of every top-level module that does any (``"encoder"``,
        ``"barycenter_map"``, ...) and their ``"total"``.
    """
    _check_sizes(height=height, width=width, batch=batch)

    def count():
        model = _meta_model(preset, **overrides)
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.empty(batch, 3, height, width, device="meta"))
        root = type(model).__name__
        table = {name.split(".", 1)[1]: sum(ops.values()) for name, ops in counter.get_flop_counts().items()
                 if name.count(".") == 1 and name.startswith(root + ".")}
        table["total"] = counter.get_total_flops()
        return table

    return dict(_counted(count, "flops", preset, height, width, batch, sorted(overrides.items())))


def iteration_flops(preset: str = "reference", patch: int = 128, batch: int = 3,
                    potentials_forward: str = "second", **overrides) -> int:
    """FLOPs of one training iteration of ``baryir.train`` on one process.

    ``3 x`` the forward pass of ``batch`` patches (forward and backward), plus the
    modules of :data:`SECOND_PASS_MODULES` once more when ``potentials_forward`` is
    ``"second"``.
    """
    if potentials_forward not in ("second", "reuse"):
        raise ConfigError(f"potentials_forward must be 'second' or 'reuse', got {potentials_forward!r}")
    forward = forward_flops(preset, patch, patch, batch, **overrides)
    second = sum(forward.get(name, 0) for name in SECOND_PASS_MODULES) if potentials_forward == "second" else 0
    return 3 * forward["total"] + second


def saved_activation_bytes(preset: str = "reference", patch: int = 128, batch: int = 3, **overrides) -> int:
    """Bytes of the tensors autograd keeps from the forward pass for the backward pass.

    Counted on the meta device with :func:`torch.autograd.graph.saved_tensors_hooks`
    (each storage once), in fp32. This is the activation memory a training step holds at
    its peak; the allocator's rounding and cuDNN workspaces come on top.
    """
    _check_sizes(patch=patch, batch=batch)

    def count():
        storages: dict[int, int] = {}

        def pack(tensor):
            storage = tensor.untyped_storage()
            storages[storage._cdata] = storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            _meta_model(preset, **overrides)(torch.empty(batch, 3, patch, patch, device="meta"))
        return sum(storages.values())

    return _counted(count, "activations", preset, patch, batch, sorted(overrides.items()))


def training_memory(config: TrainConfig) -> dict[str, int]:
    """Estimated GPU memory of one training process in fp32, in bytes, by kind.

    ``weights``, ``gradients`` and ``optimizer_state`` (parameter-sized tensors for the
    network and the potentials; :data:`OPTIMIZER_STATES` per optimiser), ``activations``
    (:func:`saved_activation_bytes`) and their ``total``. Not included: the CUDA context
    (a few hundred MiB), cuDNN workspaces, DDP's gradient buckets (another
    ``gradients`` under ``torchrun``) and fragmentation. bf16 autocast lowers the
    activations, roughly halving the largest ones.
    """
    if config.optim.name not in OPTIMIZER_STATES:
        raise ConfigError(f"no memory model for optimiser {config.optim.name!r}; use one of {sorted(OPTIMIZER_STATES)}")
    model = _meta_model(config.model.preset, **config.model.overrides)
    with torch.device("meta"):
        potentials = build_potentials(model.config, benchmark_spec(config.data.benchmark).n_sources,
                                      kind=config.model.potentials, patch_size=config.data.patch_size)
    parameters = 4 * (count_parameters(model) + count_parameters(potentials))
    table = {
        "weights": parameters,
        "gradients": parameters,
        "optimizer_state": OPTIMIZER_STATES[config.optim.name] * parameters,
        "activations": saved_activation_bytes(config.model.preset, config.data.patch_size, config.loop.batch_size,
                                              **config.model.overrides),
    }
    table["total"] = sum(table.values())
    return table


def epoch_samples(benchmark: str, counts: dict[str, int] | None = None,
                  oversample: dict[str, int] | None = None) -> int:
    """Training samples per epoch: every task's file count times its oversampling factor.

    Parameters
    ----------
    benchmark : str
        ``"aio3"``, ``"aio5"`` or ``"demo"``.
    counts : dict, optional
        Task -> number of files (pairs, or clean images for the noise tasks); default: the
        published set sizes of :data:`baryir.data.layout.TASKS`.
    oversample : dict, optional
        Task -> factor, overriding the benchmark's (as ``data.oversample`` does).
    """
    spec = benchmark_spec(benchmark)
    factors = {**spec.oversample, **(oversample or {})}
    counts = {task: TASKS[task].expected for task in spec.tasks} | (counts or {})
    return sum(int(counts[task]) * int(factors[task]) for task in spec.tasks)


def iterations_per_epoch(samples: int, batch_size: int, gpus: int = 1) -> int:
    """Iterations of one process per epoch, as ``baryir.train`` counts them.

    The distributed sampler gives each of the ``gpus`` processes ``floor(samples / gpus)``
    samples and the loader drops the last incomplete batch.
    """
    _check_sizes(samples=samples, batch_size=batch_size, gpus=gpus)
    return (samples // gpus) // batch_size


@dataclass(frozen=True)
class RunEstimate:
    """Counted size of a training run; :meth:`hours` turns it into a time estimate.

    Attributes
    ----------
    iterations : int
        Iterations of each process over the whole run.
    flops_per_iteration : int
        FLOPs of one process per iteration (:func:`iteration_flops`).
    memory : dict of str -> int
        :func:`training_memory` of one process, in bytes.
    gpus : int
    """

    iterations: int
    flops_per_iteration: int
    memory: dict
    gpus: int

    @property
    def total_flops(self) -> int:
        """FLOPs of all processes together."""
        return self.iterations * self.flops_per_iteration * self.gpus

    def hours(self, sustained_tflops: float) -> float:
        """Wall-clock hours if every GPU sustains ``sustained_tflops`` TFLOP/s (an assumption)."""
        if not sustained_tflops > 0:
            raise ConfigError(f"sustained_tflops must be positive, got {sustained_tflops}")
        return self.iterations * self.flops_per_iteration / (sustained_tflops * 1e12) / 3600


def estimate_run(config: TrainConfig, gpus: int = 1, counts: dict[str, int] | None = None) -> RunEstimate:
    """Count iterations, FLOPs and memory of ``config`` on ``gpus`` processes.

    Uses ``loop.epochs`` (with the published set sizes, or ``counts``) or ``loop.steps``;
    ``loop.batch_size`` is per process, as in ``baryir.train``.
    """
    _check_sizes(gpus=gpus)
    loop = config.loop
    if loop.epochs is not None:
        samples = epoch_samples(config.data.benchmark, counts, config.data.oversample or None)
        iterations = loop.epochs * iterations_per_epoch(samples, loop.batch_size, gpus)
    else:
        iterations = int(loop.steps)
    flops = iteration_flops(config.model.preset, config.data.patch_size, loop.batch_size, loop.potentials_forward,
                            **config.model.overrides)
    return RunEstimate(iterations, flops, training_memory(config), gpus)


def gib(n_bytes: float) -> float:
    """Bytes to GiB."""
    return n_bytes / 2**30

