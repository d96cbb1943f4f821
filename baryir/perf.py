"""Performance measurements: our training iteration against the released algorithm,
the network's kernels, and the time and peak memory of whole-image versus tiled
inference.

Training (``python -m baryir.bench train``)
-------------------------------------------
Six ways to run one BaryIR iteration, each on its own copy of the same initial
weights and fed the same batches, timed in turn (round robin, so a load spike on a
shared machine hits all of them alike). Each adds one optimisation to the one
before it, so the ratio of neighbours is the speed-up of that optimisation:

``released``
    :func:`released_train_step` on a network with the released kernels
    (:func:`use_released_kernels`: LayerNorm spelled out, ``q`` and ``k``
    normalised before the attention product), a re-statement of the released
    training loop's execution: per-sample Python loops for the transport distance,
    the orthogonality and contrastive terms (inner loops over the batch) and the
    potentials, and a second full forward pass for the potentials step; fp32.
    The network runs in the contiguous (NCHW) layout with PyTorch's 1x1
    convolutions.
``fused``
    The same loop with our LayerNorm and attention kernels (fused
    ``F.layer_norm``; attention normalised on the small Gram matrix, see
    :class:`baryir.models.MDTA`), still NCHW.
``channels-last``
    The same loop on our network as it is: channels-last layout, 1x1 convolutions
    as one GEMM over all pixels (:class:`baryir.models.PointwiseConv`).
``encoder``
    The same, with the second forward pass stopping at ``z_B``
    (:meth:`baryir.models.BaryIR.barycenter_latent`; the decoder's output is not
    used by the potentials step).
``vectorised``
    :meth:`baryir.train.Trainer.train_step` with ``potentials_forward="second"``
    (the default of ``configs/aio3.yaml`` and ``aio5.yaml``): batched cosine
    matrices for the cost terms and one potentials call per source as well.
``reuse``
    ``potentials_forward="reuse"``: the potentials step reuses the detached ``z_B``
    of the restoration step (no second forward pass). This changes the algorithm
    slightly (``z_B`` from before the network's update), so its losses differ from
    the second step on.

The first five run the same algorithm, so their losses agree up to float rounding,
which the benchmark reports (:func:`agreement` from one state, and the gaps between
the ``released`` and ``vectorised`` trajectories).

The re-statement computes the objective of our engine (the per-source weighted
mean of :func:`baryir.barycenter.weighted_source_mean` and one potentials step
with the congruence penalty over the batch) so the losses can be compared; the
released code's other estimator (``mean_i lambda_k(i) ...``) and its extra
one-sample congruence step are algorithmic differences, not speed items.

Network kernels (``python -m baryir.bench network``)
----------------------------------------------------
Forward + backward of the network alone: released kernels, our fused LayerNorm
only, our LayerNorm and attention, our network (plus the channels-last layout),
and one option not adopted: our network under ``torch.compile`` (``--compile``;
its compile time is reported separately).

Inference (``python -m baryir.bench inference``)
------------------------------------------------
Each (size, tile) case runs in a fresh subprocess, which resets its peak-RSS
mark after the imports (``/proc/self/clear_refs``, Linux) and reports the wall
time of the restoration, the peak resident memory during it (``VmHWM``) and the
growth above the resident memory just before it (model and input included).
"""

from __future__ import annotations

import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from statistics import median

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from baryir.barycenter import map_objective, potential_objective
from baryir.config import load_config
from baryir.data import build_demo_benchmark
from baryir.errors import ConfigError
from baryir.models import MDTA, BaryIR, ChannelLayerNorm, PointwiseConv, build_model
from baryir.train import Trainer, potentials_loss, restoration_loss
from baryir.utils import configure_threads

# --- the released network kernels -------------------------------------------------------


class ReleasedLayerNorm(ChannelLayerNorm):
    """The released code's LayerNorm: pixels to tokens ``(N, H*W, C)``, the formula
    spelled out (mean, biased variance, subtract, divide, scale, shift), back to
    ``(N, C, H, W)``. Same parameters and values as :class:`ChannelLayerNorm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
        var = tokens.var(-1, keepdim=True, unbiased=False)
        if self.bias is None:
            normed = tokens / torch.sqrt(var + self.eps) * self.weight
        else:
            normed = (tokens - tokens.mean(-1, keepdim=True)) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return normed.reshape(n, h, w, c).permute(0, 3, 1, 2)


class ReleasedMDTA(MDTA):
    """The released attention map: ``q`` and ``k`` (each ``(C/h, H*W)`` per head)
    normalised over pixels before ``q k^T``. Same parameters and values as
    :class:`MDTA`."""

    def attention_map(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        return (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)


def use_released_kernels(model: torch.nn.Module, layernorm: bool = True, attention: bool = True,
                         layout: bool = True) -> int:
    """Switch parts of ``model`` to the released kernels in place.

    The modules keep their parameters (the state dict is unchanged); only their
    forward changes: LayerNorms to :class:`ReleasedLayerNorm`, attentions to
    :class:`ReleasedMDTA`, and with ``layout`` the 1x1 convolutions to PyTorch's
    ``nn.Conv2d`` and every :class:`BaryIR` to the contiguous (NCHW) memory format
    instead of channels-last with :class:`PointwiseConv`.

    Returns
    -------
    int
        Number of modules switched.
    """
    swaps = {}
    if layernorm:
        swaps[ChannelLayerNorm] = ReleasedLayerNorm
    if attention:
        swaps[MDTA] = ReleasedMDTA
    if layout:
        swaps[PointwiseConv] = torch.nn.Conv2d
    switched = 0
    for module in model.modules():
        released = swaps.get(type(module))
        if released is not None:
            module.__class__ = released
            switched += 1
        if layout and isinstance(module, BaryIR):
            module.memory_format = torch.contiguous_format
    return switched


# --- the released iteration, re-stated with per-sample loops ---------------------------


def _unit(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Flatten one sample and divide by ``max(|x|, eps)``."""
    flat = x.reshape(-1)
    return flat / torch.linalg.vector_norm(flat).clamp_min(eps)


def looped_costs(z: torch.Tensor, z_b: torch.Tensor, labels: torch.Tensor, settings) -> torch.Tensor:
    """The MLOT cost of every sample with Python loops over the batch (released style).

    Parameters
    ----------
    z, z_b : Tensor (N, C, h, w)
    labels : LongTensor (N,)
        Contrastive groups (degradation labels for the ``reference`` cost preset).
    settings : baryir.costs.CostSettings
        Only the released combination is supported: RMSE distance, squared
        orthogonality over the whole batch (self included, summed), self counted as
        a contrastive positive, both regularisers on.

    Returns
    -------
    Tensor (N,)
        Equal to :class:`baryir.costs.MLOTCost` with the same settings up to rounding.
    """
    released = (settings.distance == "rmse" and settings.ort_squared and settings.ort_include_self
                and settings.ort_reduction == "sum" and settings.self_positive
                and settings.use_contrastive and settings.use_orthogonality)
    if not released:
        raise ConfigError("the looped re-statement covers the released cost only (cost.preset=reference)")
    s = z - z_b
    n, eps = z.shape[0], settings.eps
    costs = []
    for i in range(n):
        distance = torch.sqrt(torch.mean((z[i] - z_b[i]) ** 2))
        anchor, own = _unit(z_b[i], eps), _unit(s[i], eps)
        orthogonality = 0
        positive = negative = 0
        for j in range(n):
            other = _unit(s[j], eps)
            orthogonality = orthogonality + torch.sum(anchor * other) ** 2
            similarity = torch.exp(torch.sum(own * other) / settings.tau)
            if labels[i] == labels[j]:
                positive = positive + similarity
            else:
                negative = negative + similarity
        contrastive = -torch.log(positive / (positive + negative))
        costs.append(distance + settings.gamma * (orthogonality + contrastive))
    return torch.stack(costs)


def looped_potentials(potentials, z_b: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``f_{source_i}(z_b,i)`` one sample at a time, shape (N,)."""
    return torch.stack([potentials.nets[int(k)](z_b[i : i + 1]).reshape(()) for i, k in enumerate(source)])


def looped_all_potentials(potentials, z_b: torch.Tensor) -> torch.Tensor:
    """Every ``f_k`` at every sample, one (sample, source) pair at a time, shape (N, K)."""
    return torch.stack([
        torch.stack([net(z_b[i : i + 1]).reshape(()) for net in potentials.nets]) for i in range(z_b.shape[0])
    ])


def released_restoration_loss(trainer: Trainer, out, batch: dict) -> torch.Tensor:
    """Restoration-step loss ``l1_weight * L1 + barycenter_weight * F`` with looped costs
    and potentials (released style); equals :func:`baryir.train.restoration_loss`."""
    optim = trainer.config.optim
    source, labels = batch["source"], batch["label"]
    l1 = torch.mean(torch.abs(out.restored - batch["clean"]))
    costs = looped_costs(out.z, out.z_b, labels, trainer.cost.settings)
    f_own = looped_potentials(trainer.potentials, out.z_b, source)
    return optim.l1_weight * l1 + optim.barycenter_weight * map_objective(costs, f_own, source, trainer.weights)


def released_potentials_loss(trainer: Trainer, z_b: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Potentials-step loss with every (sample, source) potential looped; equals
    :func:`baryir.train.potentials_loss`."""
    f_all = looped_all_potentials(trainer.potentials, z_b)
    f_own = torch.stack([f_all[i, int(k)] for i, k in enumerate(source)])
    return potential_objective(f_own, source, trainer.weights, f_all=f_all,
                               penalty_weight=trainer.config.optim.congruence_weight)


def released_train_step(trainer: Trainer, batch: dict, second_forward: str = "full") -> dict[str, float]:
    """One iteration of the released algorithm's execution on ``trainer``'s networks.

    Same updates as :meth:`Trainer.train_step` with ``potentials_forward="second"``,
    computed with per-sample loops and a second forward pass. Needs CPU/fp32, one
    process, no gradient clipping.

    Parameters
    ----------
    trainer : Trainer
    batch : dict
        A training batch (``degraded``, ``clean``, ``source``, ``label``).
    second_forward : {"full", "encoder"}
        The second forward pass runs the whole network (released code) or stops at
        ``z_B`` (:meth:`baryir.models.BaryIR.barycenter_latent`; same ``z_B``).

    Returns
    -------
    dict
        ``loss`` (restoration step) and ``potential_loss`` (potentials step).
    """
    if second_forward not in ("full", "encoder"):
        raise ConfigError(f"second_forward must be 'full' or 'encoder', got {second_forward!r}")
    model, potentials = trainer.model, trainer.potentials
    potentials.requires_grad_(False)
    loss = released_restoration_loss(trainer, model(batch["degraded"]), batch)
    trainer.opt_model.zero_grad(set_to_none=True)
    loss.backward()
    trainer.opt_model.step()
    trainer.sched_model.step()
    potentials.requires_grad_(True)

    with torch.no_grad():  # the second forward pass
        degraded = batch["degraded"]
        z_b = model(degraded).z_b if second_forward == "full" else model.barycenter_latent(degraded)
    pot_loss = released_potentials_loss(trainer, z_b, batch["source"])
    trainer.opt_pot.zero_grad(set_to_none=True)
    pot_loss.backward()
    trainer.opt_pot.step()
    trainer.sched_pot.step()
    trainer.step += 1
    return {"loss": loss.item(), "potential_loss": pot_loss.item()}


def agreement(released: Trainer, ours: Trainer, batch: dict) -> dict[str, float]:
    """The released execution against ours from one state (nothing is updated).

    ``released`` runs the released kernels with per-sample loops, ``ours`` our
    kernels with the vectorised terms; both must hold the same weights.

    Returns
    -------
    dict
        Relative gaps ``max|a - b| / max|b|`` of the restoration loss, of its
        gradient over the network's parameters, of the potentials loss and of its
        gradient over the potentials' parameters.
    """
    source, optim = batch["source"], ours.config.optim
    out_a, out_b = released.model(batch["degraded"]), ours.model(batch["degraded"])
    for trainer in (released, ours):
        trainer.potentials.requires_grad_(False)
    loss_a = released_restoration_loss(released, out_a, batch)
    loss_b, _ = restoration_loss(out_b, batch["clean"], source, batch["label"], ours.cost, ours.potentials,
                                 ours.weights, optim)
    grads_a = torch.autograd.grad(loss_a, list(released.model.parameters()), allow_unused=True)
    grads_b = torch.autograd.grad(loss_b, list(ours.model.parameters()), allow_unused=True)
    for trainer in (released, ours):
        trainer.potentials.requires_grad_(True)
    pot_a = released_potentials_loss(released, out_a.z_b.detach(), source)
    pot_b, _ = potentials_loss(ours.potentials, out_b.z_b.detach(), source, ours.weights, optim.congruence_weight)
    pgrads_a = torch.autograd.grad(pot_a, list(released.potentials.parameters()))
    pgrads_b = torch.autograd.grad(pot_b, list(ours.potentials.parameters()))
    return {
        "loss": _relative_gap(loss_a.item(), loss_b.item()),
        "network_gradient": _tensor_gap(grads_a, grads_b),
        "potentials_loss": _tensor_gap([pot_a], [pot_b]),
        "potentials_gradient": _tensor_gap(pgrads_a, pgrads_b),
    }


def _tensor_gap(a, b) -> float:
    """``max|a - b| / max|b|`` over lists of tensors (None entries skipped)."""
    a = torch.cat([t.detach().reshape(-1) for t in a if t is not None])
    b = torch.cat([t.detach().reshape(-1) for t in b if t is not None])
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


# --- the training comparison -----------------------------------------------------------

VARIANT_LABELS = {  # in order: each variant adds one optimisation to the one before
    "released": "released (released kernels, loops, 2 full forwards)",
    "fused": "+ fused kernels (LayerNorm, attention)",
    "channels-last": "+ channels-last layout, 1x1 convs as one GEMM",
    "encoder": "+ second forward through encoder and T only",
    "vectorised": "+ vectorised costs and potentials (our default)",
    "reuse": "+ reused z_B (no second forward)",
}
VARIANTS = tuple(VARIANT_LABELS)


def run_variant(name: str, trainer: Trainer, batch: dict) -> dict[str, float]:
    """One training iteration the way variant ``name`` of :data:`VARIANTS` runs it."""
    if name in ("released", "fused", "channels-last"):
        return released_train_step(trainer, batch, second_forward="full")
    if name == "encoder":
        return released_train_step(trainer, batch, second_forward="encoder")
    return trainer.train_step(batch)


def comparison_overrides(root: str | Path, preset: str, patch: int, batch: int, potentials: str,
                         out_dir: str | Path) -> list[str]:
    """Config overrides of the comparison: the released settings (RMSprop 1e-4, cost
    ``reference``, L1 weight 1e4, fp32, CPU) on the demo benchmark."""
    return [
        f"data.root={root}", "data.benchmark=demo", f"data.patch_size={patch}", "data.validate=false",
        f"model.preset={preset}", f"model.potentials={potentials}", "cost.preset=reference",
        "optim.name=rmsprop", "optim.lr=1e-4", f"loop.batch_size={batch}", "loop.steps=100000",
        "loop.device=cpu", "loop.precision=fp32", f"output.dir={out_dir}",
    ]


def _set_threads(threads: int | None) -> int:
    """:func:`baryir.utils.configure_threads`, with a bad count as a :class:`ConfigError`."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    return configure_threads(threads)


def _relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def time_cost_terms(trainer: Trainer, batch: dict, repeats: int) -> dict[str, float]:
    """Median seconds of forward + backward of the cost terms and of the potentials
    alone, looped versus vectorised, on the latents of ``batch`` (network excluded)."""
    with torch.no_grad():
        out = trainer.model(batch["degraded"])
    z = out.z.detach()
    source, labels = batch["source"], batch["label"]
    potentials = trainer.potentials

    def timed(fn) -> float:
        samples = []
        for _ in range(repeats + 1):  # the first call warms up
            z_b = out.z_b.detach().clone().requires_grad_(True)
            start = time.perf_counter()
            fn(z_b).sum().backward()
            samples.append(time.perf_counter() - start)
        return median(samples[1:])

    return {
        "costs_looped_s": timed(lambda z_b: looped_costs(z, z_b, labels, trainer.cost.settings)),
        "costs_vectorised_s": timed(lambda z_b: trainer.cost(z, z_b, source, labels)),
        "potentials_looped_s": timed(lambda z_b: looped_all_potentials(potentials, z_b)),
        "potentials_vectorised_s": timed(lambda z_b: potentials.all_sources(z_b)),
    }


def compare_training(preset: str = "tiny", patch: int = 32, batch: int = 3, iters: int = 5, warmup: int = 1,
                     potentials: str = "reference", seed: int = 0, threads: int | None = None) -> dict:
    """Time the six iterations of the module docstring and compare their losses.

    Parameters
    ----------
    preset : str
        Model preset (``tiny``, ``reference``, ...).
    patch, batch : int
        Training patch side (multiple of 8) and batch size.
    iters, warmup : int
        Timed iterations, after ``warmup`` untimed ones (same batches for all).
    potentials : {"reference", "pooled"}
        Potentials' architecture (``reference`` = the released form).
    seed : int
        Order of the batches.
    threads : int, optional
        torch CPU threads (default ``BARYIR_THREADS`` or 1).

    Returns
    -------
    dict
        ``seconds`` (median per variant); ``speedup`` (per variant: ``total``,
        released / variant, and ``step``, previous variant / variant); ``agreement``
        (:func:`agreement` of ``released`` and ``vectorised`` on the first batch,
        before training); ``losses`` per variant and iteration ([restoration,
        potentials]); between the ``released`` and ``vectorised`` trajectories
        (RMSprop turns rounding differences in near-zero gradients into steps of up
        to ~10 lr): ``max_relative_loss_gap`` (restoration loss),
        ``max_abs_potential_loss_gap`` (the potentials loss is a small difference of
        terms, so its gap is absolute) and ``max_weight_gap`` (network weights);
        ``first_loss_equal_in_reuse``; ``cost_terms`` (:func:`time_cost_terms`);
        and the settings.
    """
    if iters < 1 or warmup < 0:
        raise ConfigError(f"need iters >= 1 and warmup >= 0, got {iters}, {warmup}")
    threads = _set_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = build_demo_benchmark(Path(tmp) / "bench", seed=0, size=max(48, patch))
        base = comparison_overrides(root, preset, patch, batch, potentials, Path(tmp) / "run")
        trainers = {
            name: Trainer(load_config(None, base + [f"loop.potentials_forward={'reuse' if name == 'reuse' else 'second'}"]))
            for name in VARIANTS
        }
        use_released_kernels(trainers["released"].model)
        use_released_kernels(trainers["fused"].model, layernorm=False, attention=False)
        loader = DataLoader(trainers["released"].train_set, batch_size=batch, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(seed))
        batches = list(islice(loader, warmup + iters))
    same_state = agreement(trainers["released"], trainers["vectorised"], batches[0])
    times = {name: [] for name in VARIANTS}
    losses = {name: [] for name in VARIANTS}
    for index, item in enumerate(batches):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            scalars = run_variant(name, trainer, item)
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
            losses[name].append([scalars["loss"], scalars["potential_loss"]])
    seconds = {name: median(values) for name, values in times.items()}
    pairs = list(zip(losses["released"], losses["vectorised"]))
    released_w = trainers["released"].model.state_dict()
    vectorised_w = trainers["vectorised"].model.state_dict()
    return {
        "preset": preset, "patch": patch, "batch": batch, "iters": iters, "warmup": warmup,
        "potentials": potentials, "threads": threads,
        "parameters": sum(p.numel() for p in trainers["released"].model.parameters()),
        "potential_parameters": sum(p.numel() for p in trainers["released"].potentials.parameters()),
        "seconds": seconds,
        "speedup": {
            name: {"total": seconds["released"] / seconds[name],
                   "step": seconds[VARIANTS[max(i - 1, 0)]] / seconds[name]}
            for i, name in enumerate(VARIANTS)
        },
        "losses": losses,
        "agreement": same_state,
        "max_relative_loss_gap": max(_relative_gap(a[0], b[0]) for a, b in pairs),
        "max_abs_potential_loss_gap": max(abs(a[1] - b[1]) for a, b in pairs),
        "max_weight_gap": max(float((released_w[k] - vectorised_w[k]).abs().max()) for k in released_w),
        "first_loss_equal_in_reuse": _relative_gap(losses["reuse"][0][0], losses["vectorised"][0][0]) < 1e-5,
        "cost_terms": time_cost_terms(trainers["vectorised"], batches[-1], repeats=max(3, iters)),
        "machine": machine(),
    }


def format_training(report: dict) -> str:
    """Markdown rows of one training comparison."""
    s, x, c, a = report["seconds"], report["speedup"], report["cost_terms"], report["agreement"]
    cost_ratio = c["costs_looped_s"] / c["costs_vectorised_s"]
    potentials_ratio = c["potentials_looped_s"] / c["potentials_vectorised_s"]
    iterations = report["warmup"] + report["iters"]
    head = f"{report['preset']}, patch {report['patch']}, batch {report['batch']}"
    rows = [f"| {head} | {VARIANT_LABELS[name]} | {s[name]:.3f} s | {x[name]['step']:.2f}x | {x[name]['total']:.2f}x |"
            for name in VARIANTS]
    return "\n".join([
        *rows,
        f"| {head} | cost terms alone, fwd+bwd | {c['costs_looped_s'] * 1e3:.2f} -> "
        f"{c['costs_vectorised_s'] * 1e3:.2f} ms | {cost_ratio:.2f}x | |",
        f"| {head} | all potentials alone, fwd+bwd | {c['potentials_looped_s'] * 1e3:.2f} -> "
        f"{c['potentials_vectorised_s'] * 1e3:.2f} ms | {potentials_ratio:.2f}x | |",
        f"\nreleased vs vectorised from one state: relative gaps loss {a['loss']:.1e}, network gradient "
        f"{a['network_gradient']:.1e}, potentials loss {a['potentials_loss']:.1e}, potentials gradient "
        f"{a['potentials_gradient']:.1e}",
        f"released vs vectorised trajectories over {iterations} iterations: restoration loss max relative gap"
        f" {report['max_relative_loss_gap']:.1e}, potentials loss max absolute gap "
        f"{report['max_abs_potential_loss_gap']:.1e}, network weights max gap {report['max_weight_gap']:.1e}; "
        f"first restoration loss identical with reuse: {report['first_loss_equal_in_reuse']}",
    ])


# --- the network's kernels ---------------------------------------------------------------

NETWORK_LABELS = {
    "released": "released kernels",
    "fused-layernorm": "fused LayerNorm only",
    "fused": "fused LayerNorm + Gram-normalised attention",
    "ours": "+ channels-last layout, 1x1 convs as one GEMM (ours)",
    "compiled": "ours under torch.compile (not adopted)",
}
NETWORK_VARIANTS = tuple(NETWORK_LABELS)


def _network_variant(name: str, model: torch.nn.Module) -> torch.nn.Module:
    """The network of variant ``name`` of :data:`NETWORK_VARIANTS`; ``model``
    is a fresh copy with our kernels that the variant may change."""
    if name == "released":
        use_released_kernels(model)
    elif name == "fused-layernorm":
        use_released_kernels(model, layernorm=False)
    elif name == "fused":
        use_released_kernels(model, layernorm=False, attention=False)
    elif name == "compiled":
        return torch.compile(model)
    return model


def compare_network(preset: str = "tiny", patch: int = 32, batch: int = 3, iters: int = 5, warmup: int = 1,
                    compile_model: bool = False, seed: int = 0, threads: int | None = None) -> dict:
    """Forward + backward time of the network alone under each kernel variant.

    Every variant starts from the same weights and sees the same random batch
    ``(batch, 3, patch, patch)``; the loss is ``mean(restored^2) + mean(z_B^2)``.
    Variants are timed in turn (round robin).

    Parameters
    ----------
    preset : str
        Model preset.
    patch, batch : int
        Input side and batch size.
    iters, warmup : int
        Timed and untimed passes per variant.
    compile_model : bool
        Include ``compiled`` (its first pass, which compiles, is timed as
        ``compile_seconds``; on a slow CPU this takes minutes at ``reference`` size).
    seed : int
        Seed of the weights and the batch.
    threads : int, optional
        torch CPU threads.

    Returns
    -------
    dict
        ``seconds`` (median per variant), ``speedup`` (released / variant),
        ``relative_gap`` (``max|out - ours| / max|ours|`` of the restored images
        of the first pass), ``compile_seconds`` (or None) and the settings.
    """
    if iters < 1 or warmup < 0:
        raise ConfigError(f"need iters >= 1 and warmup >= 0, got {iters}, {warmup}")
    threads = _set_threads(threads)
    names = [n for n in NETWORK_VARIANTS if compile_model or n != "compiled"]
    torch.manual_seed(seed)
    base = build_model(preset)
    x = torch.rand(batch, 3, patch, patch, generator=torch.Generator().manual_seed(seed))
    variants = {name: _network_variant(name, copy.deepcopy(base)) for name in names}

    def step(name: str) -> torch.Tensor:
        module = variants[name]
        out = module(x)
        (out.restored.square().mean() + out.z_b.square().mean()).backward()
        module.zero_grad(set_to_none=True)
        return out.restored.detach()

    if "compiled" in names:
        warmup = max(warmup, 1)  # the first pass compiles
    times = {name: [] for name in names}
    first, compile_seconds = {}, None
    for index in range(warmup + iters):
        for name in names:
            start = time.perf_counter()
            restored = step(name)
            elapsed = time.perf_counter() - start
            if index == 0:
                first[name] = restored
                if name == "compiled":
                    compile_seconds = elapsed
            if index >= warmup:
                times[name].append(elapsed)
    seconds = {name: median(values) for name, values in times.items()}
    ours = first["ours"]
    return {
        "preset": preset, "patch": patch, "batch": batch, "iters": iters, "warmup": warmup, "threads": threads,
        "seconds": seconds,
        "speedup": {name: seconds["released"] / seconds[name] for name in names},
        "relative_gap": {name: float((first[name] - ours).abs().max() / ours.abs().max()) for name in names},
        "compile_seconds": compile_seconds,
        "machine": machine(),
    }


def format_network(report: dict) -> str:
    """Markdown rows of one network-kernel comparison."""
    head = f"{report['preset']}, patch {report['patch']}, batch {report['batch']}"
    rows = [f"| {head} | {NETWORK_LABELS[name]} | {seconds:.3f} s | {report['speedup'][name]:.2f}x "
            f"| {report['relative_gap'][name]:.1e} |" for name, seconds in report["seconds"].items()]
    if report["compile_seconds"] is not None:
        rows.append(f"\ncompile time (first pass of the compiled model): {report['compile_seconds']:.1f} s")
    return "\n".join(rows)


# --- inference time and memory ----------------------------------------------------------

_INFERENCE_CHILD = """
import json, sys, time
import torch
from baryir.models import build_model
from baryir.tiling import restore_tiled

args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
torch.manual_seed(0)
model = build_model(args["preset"]).eval()
image = torch.rand(1, 3, args["size"], args["size"])
def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

with open("/proc/self/clear_refs", "w") as handle:  # reset the high-water mark (Linux)
    handle.write("5")
before = status_kib("VmRSS")
start = time.perf_counter()
with torch.no_grad():
    out = restore_tiled(lambda x: model(x).restored, image, tile=args["tile"], overlap=args["overlap"])
seconds = time.perf_counter() - start
peak = status_kib("VmHWM")
print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "before_mib": before / 1024,
                  "finite": bool(torch.isfinite(out).all())}))
"""


def inference_case(size: int, tile: int | None, overlap: int = 32, preset: str = "tiny",
                   threads: int = 1, timeout: float = 1800) -> dict:
    """Restore one random ``size x size`` image in a fresh process; time and peak RSS.

    Returns
    -------
    dict
        ``seconds``, ``peak_mib`` (peak resident set during the restoration),
        ``before_mib`` (resident set just before it), ``growth_mib`` = peak - before,
        and the inputs.
    """
    args = {"size": size, "tile": tile, "overlap": overlap, "preset": preset, "threads": threads}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", _INFERENCE_CHILD, json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"inference case {args} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(args, growth_mib=result["peak_mib"] - result["before_mib"])
    return result


def format_inference(rows: list[dict]) -> str:
    """Markdown rows of inference cases."""
    lines = []
    for r in rows:
        mode = "whole image" if r["tile"] is None else f"tile {r['tile']}, overlap {r['overlap']}"
        lines.append(f"| {r['preset']} | {r['size']}x{r['size']} | {mode} | {r['seconds']:.1f} s "
                     f"| {r['peak_mib']:.0f} MiB | {r['growth_mib']:.0f} MiB |")
    return "\n".join(lines)


def machine() -> dict:
    """Platform, processor and core count, for the report."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": model, "cpu_count": os.cpu_count(),
            "torch": torch.__version__}


# --- command line (entries of baryir.bench.BENCHMARKS) -----------------------------------


def _add_size_arguments(parser, iters: int, unit: str) -> None:
    """Options shared by ``bench train`` and ``bench network``."""
    parser.add_argument("--preset", default="tiny", help="model preset (tiny, reference, paper-light)")
    parser.add_argument("--patch", type=int, default=32, help="patch side (multiple of 8)")
    parser.add_argument("--batch", type=int, default=3, help="batch size (released code: 3)")
    parser.add_argument("--iters", type=int, default=iters, help=f"timed {unit} per variant")
    parser.add_argument("--warmup", type=int, default=1, help=f"untimed {unit} first")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: BARYIR_THREADS or 1)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the report to this JSON file")


def _print_report(rows: str, report: dict, json_path: Path | None) -> int:
    print(rows)
    print(f"machine: {report['machine']}; torch threads {report['threads']}")
    write_json(json_path, report)
    return 0


def add_training_arguments(parser) -> None:
    """Options of ``bench train``."""
    _add_size_arguments(parser, iters=10, unit="iterations")
    parser.add_argument("--potentials", default="reference", choices=("reference", "pooled"))


def run_training_benchmark(args) -> int:
    """``bench train``: print the Markdown rows of :func:`compare_training`."""
    report = compare_training(args.preset, args.patch, args.batch, args.iters, args.warmup, args.potentials,
                              threads=args.threads)
    return _print_report(format_training(report), report, args.json)


def add_network_arguments(parser) -> None:
    """Options of ``bench network``."""
    _add_size_arguments(parser, iters=5, unit="forward + backward passes")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")


def run_network_benchmark(args) -> int:
    """``bench network``: print the Markdown rows of :func:`compare_network`."""
    report = compare_network(args.preset, args.patch, args.batch, args.iters, args.warmup, args.compile,
                             threads=args.threads)
    return _print_report(format_network(report), report, args.json)


def add_inference_arguments(parser) -> None:
    """Options of ``bench inference``."""
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="square image sides")
    parser.add_argument("--tile", type=int, default=256, help="tile side of the tiled runs")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the rows to this JSON file")


def run_inference_benchmark(args) -> int:
    """``bench inference``: whole-image and tiled runs of every size, each in a fresh process."""
    if min(args.sizes) < 8 or args.tile < 16:
        raise ConfigError(f"--sizes must be >= 8 and --tile >= 16, got {args.sizes}, {args.tile}")
    rows = []
    for size in args.sizes:
        for tile in (None, args.tile):
            rows.append(inference_case(size, tile, args.overlap, args.preset, args.threads))
            print(format_inference(rows[-1:]), flush=True)
    _print_machine_and_write(rows, args.json)
    return 0


def _print_machine_and_write(rows: list[dict], json_path: Path | None) -> None:
    host = machine()
    print(f"machine: {host}")
    write_json(json_path, {"rows": rows, "machine": host})


def write_json(path: Path | None, report: dict) -> None:
    """Write ``report`` as indented JSON to ``path`` (folders created); nothing when None."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")


# --- the barycenter solver: one versus two threads ---------------------------------------

TOY2D_TARGET = 1.5  # w2_sq <= 1.5 x noise floor (barycenter issue)


def solver_thread_rows(threads: list[int], steps: int = 600, repeats: int = 3, seed: int = 0) -> list[dict]:
    """Run the ``toy2d`` row of ``bench barycenter`` with each torch thread count.

    Returns
    -------
    list of dict
        ``threads``, ``seconds`` (training plus the W2 scoring; POT's barycenter
        is skipped), ``ratio_to_floor`` and ``target_met`` (ratio <=
        :data:`TOY2D_TARGET`).
    """
    from baryir.bench import QUICK, BarycenterBenchSettings, toy2d_row  # bench imports this module

    settings = BarycenterBenchSettings(**{**QUICK.__dict__, "steps": steps, "toy_repeats": repeats,
                                          "pot_repeats": 0})
    rows = []
    for count in threads:
        configure_threads(count)
        row = toy2d_row(settings, seed=seed, progress=False)
        rows.append({"threads": count, "seconds": row["seconds"], "cpu_seconds": row["cpu_seconds"],
                     "ratio_to_floor": row["ratio_to_floor"], "steps": steps,
                     "target_met": row["ratio_to_floor"] <= TOY2D_TARGET})
    return rows


def add_solver_arguments(parser) -> None:
    """Options of ``bench solver-threads``."""
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to compare")
    parser.add_argument("--steps", type=int, default=600, help="solver steps (quick mode: 600)")
    parser.add_argument("--repeats", type=int, default=3, help="independent W2 draws in the score")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the rows to this JSON file")


def run_solver_benchmark(args) -> int:
    """``bench solver-threads``: time of the toy2d barycenter run per thread count."""
    if min(args.threads) < 1 or args.steps < 1 or args.repeats < 1:
        raise ConfigError("--threads, --steps and --repeats must be >= 1")
    rows = solver_thread_rows(args.threads, args.steps, args.repeats)
    for row in rows:
        print(f"| {row['threads']} | {row['steps']} | {row['seconds']:.1f} s | {row['cpu_seconds']:.1f} s "
              f"| {row['ratio_to_floor']:.2f} | {'yes' if row['target_met'] else 'no'} |", flush=True)
    _print_machine_and_write(rows, args.json)
    return 0
