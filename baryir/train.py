"""End-to-end BaryIR training: L1 restoration plus the barycenter maximin of eq. 12.

One iteration has two steps (the released code's order):

1. **Restoration step** (minimise over the network's parameters theta)::

       loss = l1_weight * |restored - clean|_1
              + barycenter_weight * mean_i c_{k(i)} [ C_k(z_i, z_B,i) - f_k(z_B,i) ]

   (:func:`restoration_loss`). The per-source factors ``c_k`` select the estimator
   of eq. 12's ``sum_k lambda_k E_{P_k}[.]`` (``optim.objective``): ``c = lambda`` is
   the released trainer's per-sample mean; ``c_k = lambda_k / p_k`` (``p_k`` the
   source's share of the training samples) is the paper's per-source expectation,
   unbiased at any batch size (:func:`baryir.barycenter.estimator_coefficients`).
2. **Potentials step** (maximise over omega)::

       minimise  mean_i c_{k(i)} f_k(z_B,i) + congruence_weight * rho(omega)

   (:func:`potentials_loss`), on ``z_B`` from a second forward pass with the updated
   network (released code; here only through the encoder and ``T``,
   :meth:`baryir.models.BaryIR.barycenter_latent`, since the decoder's output is not
   used) or on the detached ``z_B`` of step 1 (``loop.potentials_forward="reuse"``, one
   forward fewer). A non-finite loss in either step stops the run before any update
   from it, so ``last.pt`` always holds finite weights.

On logged steps the history also records the L2 norms of the L1 term's and of the
barycenter terms' gradients on the encoder, ``T`` and the decoder
(:data:`GRADIENT_FIELDS`), so the balance between the two objectives is visible, and
``s_over_z``, the batch's ``||s|| / ||z||`` (how much of the latent the map ``T`` moves).

Devices: CPU, one CUDA GPU (optionally bf16 autocast), or several processes under
``torchrun`` (DistributedDataParallel; NCCL on GPU, gloo on CPU). The batch size is
per process; the data are sharded with a :class:`DistributedSampler`; only rank 0
logs, shows progress and writes files.

Exact resume: a checkpoint holds the network, potentials, optimisers, schedulers,
the step, the position in the epoch and every RNG state, and the data order is a
function of (seed, epoch) only, so on CPU with ``data.num_workers=0`` training N
steps straight equals N/2 steps, a restart, and N/2 more (bit for bit).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from baryir.barycenter import congruence_penalty, estimator_coefficients, sample_weighted_mean
from baryir.checkpoint import (
    FORMAT,
    capture_rng_state,
    load_checkpoint,
    load_state_checked,
    remove_stale_temporaries,
    require_keys,
    restore_rng_state,
    save_checkpoint,
)
from baryir.config import OptimConfig, TrainConfig, config_to_dict, load_config, save_config, validate_config
from baryir.costs import MLOTCost
from baryir.data import AllInOneTrainDataset, PairedTestDataset, test_sets
from baryir.errors import CheckpointError, ConfigError, DatasetLayoutError, TrainingDivergedError
from baryir.loggers import build_logger, require_logger
from baryir.metrics import psnr
from baryir.models import build_model, build_potentials
from baryir.utils import get_device, seed_everything

GRADIENT_FIELDS = tuple(f"grad_{term}_{group}" for term in ("l1", "bary") for group in ("encoder", "map", "decoder"))
HISTORY_FIELDS = (
    "step", "epoch", "loss", "l1", "cost", "potential", "congruence", "potential_loss",
    "s_over_z", "lr", "images_per_s", "val_psnr", *GRADIENT_FIELDS,
)


# --- distributed plumbing --------------------------------------------------------


@dataclass
class DistContext:
    """Process placement: ``rank``/``world_size`` are 0/1 outside torchrun."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device_name: str = "auto") -> DistContext:
    """Detect torchrun's environment and join the process group when there is one.

    ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (set by torchrun) select DDP; the backend
    is NCCL on CUDA and gloo on CPU. Each process uses ``cuda:LOCAL_RANK``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = get_device(device_name)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank, device)


def all_finite(value: torch.Tensor, ctx: DistContext) -> bool:
    """True when ``value`` is finite on every rank (so all ranks stop together)."""
    flag = torch.isfinite(value.detach()).all().float().reshape(1)
    if ctx.distributed:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0)


# --- optimisers and schedules ----------------------------------------------------


def build_optimizer(params, optim: OptimConfig, lr: float) -> torch.optim.Optimizer:
    """RMSprop (released code), Adam or AdamW over ``params``."""
    params = [p for p in params if p.requires_grad]
    if optim.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=optim.weight_decay)
    if optim.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=optim.weight_decay)


def lr_factor(step: int, optim: OptimConfig, total_steps: int, steps_per_unit: int = 1) -> float:
    """Multiplier of the base learning rate at optimisation ``step`` (0-based).

    Linear warm-up over ``warmup_steps``, then ``constant``; ``step`` decay by
    ``decay_factor`` every ``decay_every * steps_per_unit`` steps (the released
    schedule); or ``cosine`` from 1 to ``min_lr_factor`` over the remaining steps.
    """
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    if optim.schedule == "step":
        return optim.decay_factor ** (step // (optim.decay_every * steps_per_unit))
    if optim.schedule == "cosine":
        span = max(1, total_steps - optim.warmup_steps)
        progress = min(1.0, (step - optim.warmup_steps) / span)
        return optim.min_lr_factor + (1 - optim.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def build_scheduler(optimizer, optim: OptimConfig, total_steps: int, steps_per_unit: int):
    """LambdaLR applying :func:`lr_factor` (stepped once per iteration)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, optim, total_steps, steps_per_unit)
    )


# --- data ------------------------------------------------------------------------


def build_datasets(config: TrainConfig, announce: bool = True) -> tuple[AllInOneTrainDataset, list[PairedTestDataset]]:
    """Training set and the validation sets found in ``ROOT/Val/`` (never ``Test/``).

    Parameters
    ----------
    config : TrainConfig
    announce : bool
        Warn about what the validation setup loses (:func:`validation_warnings`); the
        trainer announces on rank 0 only.

    Returns
    -------
    train_set : AllInOneTrainDataset
    val_sets : list of PairedTestDataset
        The benchmark's test-set names present in the validation split (empty when
        ``data.validate`` is off or the root has no ``Val/``).
    """
    data, loop = config.data, config.loop
    train_set = AllInOneTrainDataset(data.root, data.benchmark, data.patch_size, seed=loop.seed,
                                     oversample=data.oversample or None, online=data.online)
    val_sets, unusable = [], {}
    if data.validate:
        for name in test_sets(data.benchmark):
            try:
                val_sets.append(PairedTestDataset(data.root, name, seed=loop.seed, split="val"))
            except DatasetLayoutError as err:
                unusable[name] = str(err)
    if announce:
        for message in validation_warnings(config, unusable, found=len(val_sets)):
            warnings.warn(message, UserWarning, stacklevel=2)
    return train_set, val_sets


def validation_warnings(config: TrainConfig, unusable: dict[str, str], found: int) -> list[str]:
    """What a run's validation setup silently loses, one message each (empty when nothing).

    Parameters
    ----------
    config : TrainConfig
    unusable : dict
        Validation set of the benchmark -> why ``ROOT/Val/`` cannot provide it (the
        layout error: a missing folder, unpaired or no images).
    found : int
        Validation sets present.
    """
    data, loop = config.data, config.loop
    val_dir = Path(data.root) / "Val"
    messages = []
    if data.validate and not found:
        unused = " and loop.keep_best (no best.pt)" if loop.keep_best else ""
        messages.append(
            f"data.validate is on but {val_dir} holds none of the validation sets {list(unusable)}: this run has "
            f"no validation PSNR{unused}. Carve it out of Train/ with `baryir data val ROOT` (or add ROOT/Val/ in "
            "the test-set layout; see data/README.md), or set data.validate=false.")
    elif unusable:
        chosen = " and keep-best's choice" if loop.keep_best else ""
        reasons = "; ".join(f"{name}: {reason}" for name, reason in unusable.items())
        messages.append(
            f"{val_dir} lacks the validation sets {list(unusable)}, so the validation PSNR{chosen} averages only "
            f"the other {found}. Fix ROOT/Val/ or accept the partial score ({reasons}).")
    if loop.keep_best and not data.validate:
        messages.append(
            "loop.keep_best is on but data.validate is off: nothing is validated, so no best.pt will be written. "
            "Turn validation on (it needs ROOT/Val/), or set loop.keep_best=false.")
    return messages


def epoch_loader(dataset, sampler: DistributedSampler, epoch: int, skip_batches: int,
                 batch_size: int, num_workers: int, seed: int) -> DataLoader:
    """Loader over this rank's shard for ``epoch``, skipping batches already trained on.

    The order depends on (seed, epoch) only, the dataset's crops and noise on
    (seed, epoch, index), and the loader gets its own generator so it never draws
    from the global RNG: together this makes resuming exact.
    """
    sampler.set_epoch(epoch)
    dataset.set_epoch(epoch)
    indices = list(sampler)[skip_batches * batch_size:]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=indices,
        num_workers=num_workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed + epoch),
        persistent_workers=False,
    )


# --- the two losses of one iteration (eq. 12) -------------------------------------


def upcast(x: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors (autocast's outputs) to float32; float32 and float64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def restoration_loss(out, clean: torch.Tensor, source: torch.Tensor, labels: torch.Tensor, cost,
                     potentials, coefficients: torch.Tensor, optim: OptimConfig):
    """Loss of the restoration step: ``l1_weight * L1 + barycenter_weight * F`` (eq. 12).

    ``F`` is estimated per sample, ``mean_i c_{k(i)} [C_{k(i)}(z_i, z_B,i) - f_{k(i)}(z_B,i)]``
    (:func:`baryir.barycenter.sample_weighted_mean`): with ``c = lambda`` this is the
    released trainer's loss, with ``c_k = lambda_k / p_k`` eq. 12's per-source form
    (:func:`baryir.barycenter.estimator_coefficients`).

    Parameters
    ----------
    out : BaryIROutput
        Network output for the degraded batch (``restored`` (N,3,H,W); ``z``, ``z_b``
        (N,C,h,w)); cast to float32 here (bf16 autocast).
    clean : Tensor (N, 3, H, W)
    source, labels : LongTensor (N,)
        Source index ``k`` (for ``c_k`` and ``f_k``) and degradation label (for the
        contrastive positives of the MLOT cost).
    cost : callable
        ``cost(z, z_b, source, labels) -> (N,)``, e.g. :class:`baryir.costs.MLOTCost`.
    potentials : baryir.models.Potentials
    coefficients : Tensor (K,)
        Per-source factors ``c_k`` of the estimator.
    optim : OptimConfig
        Supplies ``l1_weight`` and ``barycenter_weight``.

    Returns
    -------
    loss : Tensor, shape ()
    parts : dict
        ``"l1"`` and ``"barycenter"`` (the two weighted terms of ``loss``, scalars),
        ``"costs"`` and ``"f"`` ((N,) per-sample C_k and f_k(z_B)).
    """
    z, z_b = upcast(out.z), upcast(out.z_b)
    l1 = optim.l1_weight * F.l1_loss(upcast(out.restored), clean)
    costs = cost(z, z_b, source, labels)
    f_at_zb = potentials(z_b, source)
    barycenter = optim.barycenter_weight * sample_weighted_mean(costs - f_at_zb, source, coefficients)
    return l1 + barycenter, {"l1": l1, "barycenter": barycenter, "costs": costs, "f": f_at_zb}


def potentials_loss(potentials, z_b: torch.Tensor, source: torch.Tensor, weights: torch.Tensor,
                    coefficients: torch.Tensor, congruence_weight: float):
    """Loss of the potentials step: ``mean_i c_{k(i)} f_{k(i)}(z_B,i) + w rho`` (eq. 12).

    The released code takes two optimiser steps (the f term, then ``10 *`` the
    congruence penalty on one sample); here both terms go into one step, and ``rho``
    is the mean over the batch.

    Parameters
    ----------
    potentials : baryir.models.Potentials
    z_b : Tensor (N, C, h, w)
        Barycenter latents, detached from the network.
    source : LongTensor (N,)
    weights : Tensor (K,)
        ``lambda_k`` of the congruence condition ``sum_k lambda_k f_k = 0``.
    coefficients : Tensor (K,)
        Per-source factors ``c_k`` of the estimator (see :func:`restoration_loss`).
    congruence_weight : float

    Returns
    -------
    loss : Tensor, shape ()
    f_all : Tensor (N, K)
        Every potential at every sample (for the congruence residual).
    """
    f_all = potentials.all_sources(z_b)
    f_own = f_all.gather(1, source[:, None]).squeeze(1)
    loss = sample_weighted_mean(f_own, source, coefficients) + congruence_weight * congruence_penalty(f_all, weights)
    return loss, f_all


def group_gradient_norms(term: str, grads: list[torch.Tensor], groups: dict[str, list]) -> dict[str, float]:
    """L2 norm of one loss term's gradient on each parameter group.

    Parameters
    ----------
    term : str
        Name of the loss term (e.g. ``"l1"`` or ``"bary"``).
    grads : list of Tensor
        The term's gradient for every parameter, in the order of ``groups``' lists
        concatenated.
    groups : dict of str to list of Parameter
        e.g. :meth:`baryir.models.BaryIR.parameter_groups`.

    Returns
    -------
    dict
        ``"grad_<term>_<group>" -> float`` (0.0 for an empty group).
    """
    norms, start = {}, 0
    for name, params in groups.items():
        part = grads[start:start + len(params)]
        start += len(params)
        norms[f"grad_{term}_{name}"] = (
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in part])).item() if part else 0.0
        )
    return norms


# --- the trainer -----------------------------------------------------------------


@dataclass
class ValidationResult:
    """Scores of one pass over the validation sets (:meth:`Trainer.validate`).

    Attributes
    ----------
    psnr : float
        Mean PSNR (dB) over all validation images (keep-best's metric).
    per_task : dict
        Mean PSNR per validation set (test-set name -> dB).
    examples : list of dict
        The first image of each set: ``task`` and float tensors (3, H, W) in [0, 1]
        ``degraded``, ``restored``, ``clean`` (for the loggers' image strips).
    """

    psnr: float
    per_task: dict[str, float] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


class Trainer:
    """Owns the networks, optimisers and data of one run; :meth:`fit` trains.

    Parameters
    ----------
    config : TrainConfig
        Checked again first (:func:`baryir.config.validate_config`); the trainer keeps
        that checked copy, so later changes to ``config`` do not reach it.
    resume : str or Path, optional
        Checkpoint to continue from; a missing or corrupt file raises
        :class:`~baryir.errors.CheckpointError` (never a silent restart).
    """

    def __init__(self, config: TrainConfig, resume: str | Path | None = None):
        config = validate_config(config)  # it may have been changed since it was built
        self.config = config
        self.ctx = setup_distributed(config.loop.device)
        loop, optim = config.loop, config.optim
        if self.ctx.is_main:
            require_logger(loop.logger)  # a missing package fails now, not after training
        seed_everything(loop.seed)  # same initial weights on every rank
        device = self.ctx.device
        if loop.precision == "bf16" and device.type != "cuda":
            raise ConfigError("config key 'loop.precision': bf16 autocast needs a CUDA device; use fp32")

        self.train_set, self.val_sets = build_datasets(config, announce=self.ctx.is_main)
        self.sampler = DistributedSampler(
            self.train_set, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
            shuffle=True, seed=loop.seed, drop_last=True,
        )
        self.steps_per_epoch = len(self.sampler) // loop.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"config key 'loop.batch_size': {loop.batch_size} is larger than this process's "
                f"share of the training set ({len(self.sampler)} items)"
            )
        unit = self.steps_per_epoch if loop.epochs is not None else 1
        self.total_steps = loop.epochs * unit if loop.epochs is not None else loop.steps

        model = build_model(config.model.preset, **config.model.overrides).to(device)
        self.model_config = model.config
        n_sources = self.train_set.n_sources
        potentials = build_potentials(
            model.config, n_sources, kind=config.model.potentials, patch_size=config.data.patch_size
        ).to(device)
        self.weights = self.train_set.source_weights(config.data.source_weights).to(device)
        counts = torch.tensor(self.train_set.source_counts(), dtype=torch.float32)
        self.objective = optim.objective or config.cost.preset
        self.coefficients = estimator_coefficients(self.weights, (counts / counts.sum()).to(device), self.objective)
        self.cost = MLOTCost(
            config.cost.preset, gamma=config.cost.gamma, tau=config.cost.tau, **config.cost.overrides
        )

        self.opt_model = build_optimizer(model.parameters(), optim, optim.lr)
        self.opt_pot = build_optimizer(potentials.parameters(), optim, optim.potentials_lr or optim.lr)
        self.sched_model = build_scheduler(self.opt_model, optim, self.total_steps, unit)
        self.sched_pot = build_scheduler(self.opt_pot, optim, self.total_steps, unit)

        self.step = 0
        self.best_metric: float | None = None
        self.history: list[dict] = []
        if resume is not None:
            self._load(resume, model, potentials)
        elif config.model.init is not None:
            initial_weights(model, config.model.init)
            seed_everything(loop.seed + self.ctx.rank)
        else:
            seed_everything(loop.seed + self.ctx.rank)  # per-rank randomness from here on
        if self.ctx.distributed:
            ids = [device.index] if device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids)
            broadcast_parameters(potentials, self.ctx)
        self.model, self.potentials = model, potentials
        self.out_dir = Path(config.output.dir)

    # -- checkpoints --

    def state_dict(self) -> dict:
        """Everything needed to continue exactly (see :mod:`baryir.checkpoint`)."""
        return {
            "format": FORMAT,
            "model": _unwrap(self.model).state_dict(),
            "potentials": self.potentials.state_dict(),
            "model_config": self.model_config.to_dict(),
            "config": config_to_dict(self.config),
            "optimizers": {"model": self.opt_model.state_dict(), "potentials": self.opt_pot.state_dict()},
            "schedulers": {"model": self.sched_model.state_dict(), "potentials": self.sched_pot.state_dict()},
            "step": self.step,
            "rng": capture_rng_state(),
            "best_metric": self.best_metric,
            "history": self.history,
        }

    def _load(self, path, model, potentials) -> None:
        state = load_checkpoint(path, map_location=self.ctx.device)
        require_keys(state, ("model", "potentials", "optimizers", "schedulers", "step", "rng"), path)
        load_state_checked(model, state["model"], path)
        load_state_checked(potentials, state["potentials"], path)
        try:
            self.opt_model.load_state_dict(state["optimizers"]["model"])
            self.opt_pot.load_state_dict(state["optimizers"]["potentials"])
        except (ValueError, KeyError) as err:
            raise CheckpointError(f"checkpoint {path}: optimiser state does not fit ({err})") from None
        self.sched_model.load_state_dict(state["schedulers"]["model"])
        self.sched_pot.load_state_dict(state["schedulers"]["potentials"])
        self.step = int(state["step"])
        self.best_metric = state.get("best_metric")
        self.history = list(state.get("history", []))
        rng = state["rng"]
        if self.ctx.distributed:  # every rank saved rank 0's state; decorrelate again
            seed_everything(self.config.loop.seed + self.ctx.rank + 1000 * self.step)
        else:
            restore_rng_state(rng)

    def save(self, name: str) -> Path | None:
        """Write ``<output.dir>/<name>`` on rank 0 (other ranks do nothing)."""
        if not self.ctx.is_main:
            return None
        return save_checkpoint(self.state_dict(), self.out_dir / name)

    # -- one iteration --

    def _autocast(self):
        return torch.autocast(
            device_type=self.ctx.device.type, dtype=torch.bfloat16,
            enabled=self.config.loop.precision == "bf16",
        )

    def _clip(self, module) -> None:
        if self.config.optim.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.optim.grad_clip)

    def train_step(self, batch: dict, measure_gradients: bool = False) -> dict[str, float]:
        """One restoration step and one potentials step; return the logged scalars.

        Parameters
        ----------
        batch : dict
            ``degraded``, ``clean`` (N, 3, H, W), ``source``, ``label`` (N,).
        measure_gradients : bool
            Also return ``grad_<term>_<group>``: the L2 norm of the L1 term's and the
            barycenter terms' gradients on the encoder, the map ``T`` and the decoder
            (before clipping; one extra backward pass through the barycenter terms).
            Under DDP the barycenter part is this rank's and the L1 part is the
            all-reduced total minus it.

        Raises
        ------
        TrainingDivergedError
            If the restoration loss is not finite (no parameter is updated), or the
            potentials loss is not finite (the potentials are not updated and no
            checkpoint is written from this step).
        """
        optim, device = self.config.optim, self.ctx.device
        degraded = batch["degraded"].to(device, non_blocking=True)
        clean = batch["clean"].to(device, non_blocking=True)
        source = batch["source"].to(device)
        labels = batch["label"].to(device)
        potentials = self.potentials

        # (1) restoration step: theta-minimisation of eq. 12 plus the L1 loss.
        potentials.requires_grad_(False)
        with self._autocast():
            out = self.model(degraded)
        loss, parts = restoration_loss(out, clean, source, labels, self.cost, potentials, self.coefficients, optim)
        self._check_finite(loss, "loss")
        lr = self.opt_model.param_groups[0]["lr"]
        self.opt_model.zero_grad(set_to_none=True)
        if measure_gradients:
            groups = _unwrap(self.model).parameter_groups()
            params = [p for group in groups.values() for p in group]
            bary = torch.autograd.grad(parts["barycenter"], params, retain_graph=True, allow_unused=True)
            bary = [torch.zeros_like(p) if g is None else g for p, g in zip(params, bary)]
        loss.backward()
        if measure_gradients:
            total = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
            norms = {**group_gradient_norms("l1", [t - b for t, b in zip(total, bary)], groups),
                     **group_gradient_norms("bary", bary, groups)}
        self._clip(self.model)
        self.opt_model.step()
        self.sched_model.step()
        potentials.requires_grad_(True)

        # (2) potentials step: omega-maximisation of eq. 12 with the congruence penalty.
        if self.config.loop.potentials_forward == "reuse":
            z_b_pot = upcast(out.z_b.detach())
        else:
            with torch.no_grad(), self._autocast():
                z_b_pot = upcast(_unwrap(self.model).barycenter_latent(degraded))
        pot_loss, f_all = potentials_loss(potentials, z_b_pot, source, self.weights, self.coefficients,
                                          optim.congruence_weight)
        self._check_finite(pot_loss, "potentials loss")
        self.opt_pot.zero_grad(set_to_none=True)
        pot_loss.backward()
        average_gradients(potentials, self.ctx)
        self._clip(potentials)
        self.opt_pot.step()
        self.sched_pot.step()
        self.step += 1
        with torch.no_grad():
            scalars = {
                "loss": loss.item(),
                "l1": parts["l1"].item() / optim.l1_weight if optim.l1_weight else 0.0,
                "cost": sample_weighted_mean(parts["costs"], source, self.coefficients).item(),
                "potential": sample_weighted_mean(parts["f"], source, self.coefficients).item(),
                "congruence": congruence_penalty(f_all.detach(), self.weights).item(),
                "potential_loss": pot_loss.item(),
                "s_over_z": (out.s.norm() / out.z.norm()).item(),
                "lr": lr,
            }
        return {**scalars, **norms} if measure_gradients else scalars

    def _check_finite(self, loss: torch.Tensor, what: str) -> None:
        """Stop the run before any update from a non-finite ``loss`` (all ranks together)."""
        if not all_finite(loss, self.ctx):
            raise TrainingDivergedError(
                f"non-finite {what} ({loss.item()}) at step {self.step + 1}; stopped before that step's "
                f"checkpoint. The last good checkpoint in {self.out_dir} is kept. "
                f"Lower optim.lr, set optim.grad_clip, or use loop.precision=fp32."
            )

    # -- validation --

    @torch.no_grad()
    def validate(self) -> ValidationResult | None:
        """PSNR (dB) on the validation images (whole images, batch 1), or None without any."""
        limit = self.config.loop.val_images
        model = _unwrap(self.model)
        model.eval()
        per_task, examples = {}, []
        for dataset in self.val_sets:
            scores = []
            for i in range(len(dataset) if not limit else min(limit, len(dataset))):
                item = dataset[i]
                with self._autocast():
                    restored = model(item["degraded"][None].to(self.ctx.device)).restored.float()
                restored = restored[0].clamp(0, 1).cpu()
                scores.append(psnr(restored, item["clean"]))
                if i == 0:
                    examples.append({"task": dataset.name, "degraded": item["degraded"], "restored": restored,
                                     "clean": item["clean"]})
            if scores:
                per_task[dataset.name] = scores
        model.train()
        if not per_task:
            return None
        every = [score for scores in per_task.values() for score in scores]
        return ValidationResult(sum(every) / len(every), {k: sum(v) / len(v) for k, v in per_task.items()}, examples)

    # -- the loop --

    def fit(self, progress: bool = True, stop_after: int | None = None) -> list[dict]:
        """Train until ``total_steps`` (or until step ``stop_after``, to split a run).

        Returns
        -------
        list of dict
            The history (one record per logged step, fields :data:`HISTORY_FIELDS`).
        """
        loop = self.config.loop
        last = self.total_steps if stop_after is None else min(stop_after, self.total_steps)
        self.model.train()
        self.potentials.train()
        if self.ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.config, self.out_dir / "config.yaml")
            for name in ("last.pt", "best.pt"):  # leftovers of saves killed in an earlier run
                remove_stale_temporaries(self.out_dir / name)
        logger = build_logger(loop.logger if self.ctx.is_main else "none", self.out_dir, config_to_dict(self.config))
        bar = tqdm(total=last, initial=self.step, desc="train", disable=not (progress and self.ctx.is_main),
                   dynamic_ncols=True)
        tick, images = time.perf_counter(), 0
        while self.step < last:
            epoch, position = divmod(self.step, self.steps_per_epoch)
            loader = epoch_loader(self.train_set, self.sampler, epoch, position, loop.batch_size,
                                  self.config.data.num_workers, loop.seed)
            for batch in loader:
                upcoming = self.step + 1
                logging = upcoming % loop.log_every == 0 or upcoming == self.total_steps
                scalars = self.train_step(batch, measure_gradients=logging and self.ctx.is_main)
                images += batch["degraded"].shape[0] * self.ctx.world_size
                bar.update(1)
                final = self.step == self.total_steps
                validating = (loop.val_every and self.step % loop.val_every == 0) or final
                if logging or validating:
                    elapsed = time.perf_counter() - tick
                    record = {"step": self.step, "epoch": epoch, **scalars,
                              "images_per_s": images / max(elapsed, 1e-9), "val_psnr": None}
                    # both schedules apply the same factor to their base rates
                    record["potentials_lr"] = scalars["lr"] * self.sched_pot.base_lrs[0] / self.sched_model.base_lrs[0]
                    tick, images = time.perf_counter(), 0
                    result = self.validate() if validating and self.ctx.is_main else None
                    if result is not None:
                        record["val_psnr"] = result.psnr
                        record.update({f"val_psnr_{name}": value for name, value in result.per_task.items()})
                        logger.log_images(self.step, result.examples)
                    self.history.append(record)  # before best.pt, whose history then ends with this record
                    if result is not None:
                        self._keep_best(result)
                    logger.log_record(record)
                    bar.set_postfix(loss=f"{scalars['loss']:.4g}", img_s=f"{record['images_per_s']:.1f}")
                if loop.checkpoint_every and self.step % loop.checkpoint_every == 0:
                    self.save("last.pt")
                    self.flush_history()
                    logger.flush()
                if self.step >= last:
                    break
        bar.close()
        self.save("last.pt")
        self.flush_history()
        logger.close()
        return self.history

    def _keep_best(self, result: ValidationResult) -> None:
        """Save ``best.pt`` when ``result`` beats every earlier validation (loop.keep_best)."""
        if self.config.loop.keep_best and (self.best_metric is None or result.psnr > self.best_metric):
            self.best_metric = result.psnr
            self.save("best.pt")

    def flush_history(self) -> None:
        """Write ``history.json`` and ``history.csv`` to the run folder (rank 0)."""
        if self.ctx.is_main:
            write_history(self.history, self.out_dir)


def initial_weights(model: torch.nn.Module, source: str) -> None:
    """Load the network weights of a checkpoint path or of a shipped model into ``model``.

    Raises
    ------
    CheckpointError
        The file is missing or corrupt, or its weights do not fit ``model``.
    ConfigError
        ``source`` is neither a file nor a shipped model's name.
    """
    from baryir import pretrained

    if Path(source).is_file():
        state = load_checkpoint(source, map_location="cpu")
        require_keys(state, ("model",), source)
        weights = state["model"]
    elif source in pretrained.available():
        weights = pretrained.load(source).state_dict()
    else:
        raise ConfigError(f"config key 'model.init': {source!r} is neither a checkpoint file nor a shipped "
                          f"model ({', '.join(pretrained.available()) or 'none installed'})")
    load_state_checked(model, weights, source)


def average_gradients(module: torch.nn.Module, ctx: DistContext) -> None:
    """Average ``module``'s gradients over ranks (the potentials are not DDP-wrapped)."""
    if not ctx.distributed:
        return
    for param in module.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad /= ctx.world_size


def broadcast_parameters(module: torch.nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters to every rank."""
    if ctx.distributed:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def write_history(history: list[dict], out_dir: str | Path) -> None:
    """Save a history as ``history.json`` and ``history.csv`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    with open(out_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)


def train(config: TrainConfig, resume: str | Path | None = None, progress: bool = True) -> list[dict]:
    """Train BaryIR as described by ``config``; return the history (see :class:`Trainer`)."""
    return Trainer(config, resume=resume).fit(progress=progress)


# --- command line ----------------------------------------------------------------


def register(subparsers) -> None:
    """Add ``baryir train --config FILE [--resume CKPT] [section.key=value ...]``."""
    parser = subparsers.add_parser(
        "train",
        help="train BaryIR from a YAML config (one GPU, CPU, or several with torchrun)",
        description=(
            "Train BaryIR. Overrides are dotted section.key=value pairs applied after the "
            "file, e.g. optim.lr=3e-4 loop.steps=2000. Under torchrun every process runs "
            "this command; loop.batch_size is per process."
        ),
    )
    parser.add_argument("--config", required=True,
                        help="packaged config name (aio3, aio5, demo; baryir config list) or a YAML file")
    parser.add_argument("--resume", default=None, help="checkpoint to continue from (last.pt)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value")
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Entry point of ``baryir train``."""
    config = load_config(args.config, args.overrides)
    trainer = Trainer(config, resume=args.resume)
    history = trainer.fit(progress=not args.no_progress)
    if trainer.ctx.is_main:
        final = history[-1] if history else {}
        print(f"trained {trainer.step} steps; loss {final.get('loss', float('nan')):.4g}; "
              f"best validation PSNR {trainer.best_metric}; run folder {trainer.out_dir}")
    if trainer.ctx.distributed:
        dist.destroy_process_group()
    return 0
