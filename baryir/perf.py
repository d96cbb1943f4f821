"""Performance measurements: our training iteration against the released algorithm,
and the time and peak memory of whole-image versus tiled inference.

Training (``python -m baryir.bench train``)
-------------------------------------------
Three ways to run one BaryIR iteration, each on its own copy of the same
initial weights and fed the same batches, timed in turn (round robin, so a
load spike on a shared machine hits all three alike):

``released``
    :func:`released_train_step`, a re-statement of the released training loop's
    execution: per-sample Python loops for the transport distance, the
    orthogonality and contrastive terms (inner loops over the batch) and for the
    potentials, and a second forward pass for the potentials step; fp32.
``vectorised``
    :meth:`baryir.train.Trainer.train_step` with ``potentials_forward="second"``:
    the same arithmetic with batched cost matrices and one potentials call per
    source; still two forward passes. Losses must equal ``released``'s up to float
    rounding, which the benchmark reports.
``reuse``
    The same with ``potentials_forward="reuse"``: the potentials step reuses the
    detached ``z_B`` of the restoration step (one forward pass fewer). This
    changes the algorithm slightly (``z_B`` before the network's update), so its
    losses differ after the first step.

The re-statement computes the objective of our engine (the per-source weighted
mean of :func:`baryir.barycenter.weighted_source_mean` and one potentials step
with the congruence penalty over the batch) so the losses can be compared; the
released code's other estimator (``mean_i lambda_k(i) ...``) and its extra
one-sample congruence step are algorithmic differences, not speed items.

Inference (``python -m baryir.bench inference``)
------------------------------------------------
Each (size, tile) case runs in a fresh subprocess, which resets its peak-RSS
mark after the imports (``/proc/self/clear_refs``, Linux) and reports the wall
time of the restoration, the peak resident memory during it (``VmHWM``) and the
growth above the resident memory just before it (model and input included).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from itertools import islice
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from baryir.barycenter import map_objective, potential_objective
from baryir.config import load_config
from baryir.data import build_demo_benchmark
from baryir.errors import ConfigError
from baryir.train import Trainer, potentials_loss, restoration_loss
from baryir.utils import configure_threads

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


def released_train_step(trainer: Trainer, batch: dict) -> dict[str, float]:
    """One iteration of the released algorithm's execution on ``trainer``'s networks.

    Same updates as :meth:`Trainer.train_step` with ``potentials_forward="second"``,
    computed with per-sample loops and a second forward pass. Needs CPU/fp32, one
    process, no gradient clipping.

    Returns
    -------
    dict
        ``loss`` (restoration step) and ``potential_loss`` (potentials step).
    """
    model, potentials = trainer.model, trainer.potentials
    potentials.requires_grad_(False)
    loss = released_restoration_loss(trainer, model(batch["degraded"]), batch)
    trainer.opt_model.zero_grad(set_to_none=True)
    loss.backward()
    trainer.opt_model.step()
    trainer.sched_model.step()
    potentials.requires_grad_(True)

    with torch.no_grad():
        z_b = model(batch["degraded"]).z_b  # the second forward pass
    pot_loss = released_potentials_loss(trainer, z_b, batch["source"])
    trainer.opt_pot.zero_grad(set_to_none=True)
    pot_loss.backward()
    trainer.opt_pot.step()
    trainer.sched_pot.step()
    trainer.step += 1
    return {"loss": loss.item(), "potential_loss": pot_loss.item()}


def agreement(trainer: Trainer, batch: dict) -> dict[str, float]:
    """Looped versus vectorised losses and gradients from one state (nothing is updated).

    Returns
    -------
    dict
        Relative gaps ``|a - b| / max|b|`` of the restoration loss, of its gradient
        over the network's parameters, of the potentials loss and of its gradient
        over the potentials' parameters.
    """
    model, potentials, optim = trainer.model, trainer.potentials, trainer.config.optim
    source = batch["source"]
    net_params = [p for p in model.parameters() if p.requires_grad]
    out = model(batch["degraded"])
    potentials.requires_grad_(False)
    looped = released_restoration_loss(trainer, out, batch)
    vectorised, _ = restoration_loss(out, batch["clean"], source, batch["label"], trainer.cost, potentials,
                                     trainer.weights, optim)
    grads_a = torch.autograd.grad(looped, net_params, retain_graph=True, allow_unused=True)
    grads_b = torch.autograd.grad(vectorised, net_params, allow_unused=True)
    potentials.requires_grad_(True)
    z_b = out.z_b.detach()
    pot_params = list(potentials.parameters())
    pot_a = released_potentials_loss(trainer, z_b, source)
    pot_b, _ = potentials_loss(potentials, z_b, source, trainer.weights, optim.congruence_weight)
    pgrads_a = torch.autograd.grad(pot_a, pot_params)
    pgrads_b = torch.autograd.grad(pot_b, pot_params)

    def gap(a, b) -> float:
        a = torch.cat([t.reshape(-1) for t in a if t is not None])
        b = torch.cat([t.reshape(-1) for t in b if t is not None])
        return float(((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).detach())

    return {
        "loss": _relative_gap(looped.item(), vectorised.item()),
        "network_gradient": gap(grads_a, grads_b),
        "potentials_loss": gap([pot_a], [pot_b]),
        "potentials_gradient": gap(pgrads_a, pgrads_b),
    }


# --- the training comparison -----------------------------------------------------------

VARIANTS = ("released", "vectorised", "reuse")


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


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


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
        return _median(samples[1:])

    return {
        "costs_looped_s": timed(lambda z_b: looped_costs(z, z_b, labels, trainer.cost.settings)),
        "costs_vectorised_s": timed(lambda z_b: trainer.cost(z, z_b, source, labels)),
        "potentials_looped_s": timed(lambda z_b: looped_all_potentials(potentials, z_b)),
        "potentials_vectorised_s": timed(lambda z_b: potentials.all_sources(z_b)),
    }


def compare_training(preset: str = "tiny", patch: int = 32, batch: int = 3, iters: int = 5, warmup: int = 1,
                     potentials: str = "reference", seed: int = 0, threads: int | None = None) -> dict:
    """Time the three iterations of the module docstring and compare their losses.

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
        ``seconds`` (median per variant), ``speedup`` (``vectorised`` = released /
        vectorised, ``reuse`` = vectorised / reuse, ``total`` = released / reuse),
        ``agreement`` (:func:`agreement` on the first batch, before training),
        ``losses`` per variant and iteration ([restoration, potentials]), and between
        the ``released`` and ``vectorised`` trajectories (RMSprop turns rounding
        differences in near-zero gradients into steps of up to ~10 lr): ``max_relative_loss_gap`` (restoration loss),
        ``max_abs_potential_loss_gap`` (the potentials loss is a small difference of
        terms, so its gap is absolute) and ``max_weight_gap`` (network weights), ``cost_terms``
        (see :func:`time_cost_terms`) and the settings.
    """
    if iters < 1 or warmup < 0:
        raise ConfigError(f"need iters >= 1 and warmup >= 0, got {iters}, {warmup}")
    threads = configure_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = build_demo_benchmark(Path(tmp) / "bench", seed=0, size=max(48, patch))
        base = comparison_overrides(root, preset, patch, batch, potentials, Path(tmp) / "run")
        forward = {name: "reuse" if name == "reuse" else "second" for name in VARIANTS}
        trainers = {
            name: Trainer(load_config(None, base + [f"loop.potentials_forward={forward[name]}"])) for name in VARIANTS
        }
        loader = DataLoader(trainers["released"].train_set, batch_size=batch, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(seed))
        batches = list(islice(loader, warmup + iters))
    same_state = agreement(trainers["vectorised"], batches[0])
    times = {name: [] for name in VARIANTS}
    losses = {name: [] for name in VARIANTS}
    for index, item in enumerate(batches):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            scalars = released_train_step(trainer, item) if name == "released" else trainer.train_step(item)
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
            losses[name].append([scalars["loss"], scalars["potential_loss"]])
    seconds = {name: _median(values) for name, values in times.items()}
    pairs = list(zip(losses["released"], losses["vectorised"]))
    loss_gap = max(_relative_gap(a[0], b[0]) for a, b in pairs)
    potential_gap = max(abs(a[1] - b[1]) for a, b in pairs)
    released_w = trainers["released"].model.state_dict()
    vectorised_w = trainers["vectorised"].model.state_dict()
    weight_gap = max(float((released_w[k] - vectorised_w[k]).abs().max()) for k in released_w)
    model = trainers["released"].model
    return {
        "preset": preset, "patch": patch, "batch": batch, "iters": iters, "warmup": warmup,
        "potentials": potentials, "threads": threads,
        "parameters": sum(p.numel() for p in model.parameters()),
        "potential_parameters": sum(p.numel() for p in trainers["released"].potentials.parameters()),
        "seconds": seconds,
        "speedup": {
            "vectorised": seconds["released"] / seconds["vectorised"],
            "reuse": seconds["vectorised"] / seconds["reuse"],
            "total": seconds["released"] / seconds["reuse"],
        },
        "losses": losses,
        "agreement": same_state,
        "max_relative_loss_gap": loss_gap,
        "max_abs_potential_loss_gap": potential_gap,
        "max_weight_gap": weight_gap,
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
    head = f"{report['preset']}, patch {report['patch']}, batch {report['batch']}, potentials {report['potentials']}"
    return "\n".join([
        f"| {head} | released (loops, 2 forwards) | {s['released']:.3f} s | 1.00x |",
        f"| {head} | vectorised costs/potentials, 2 forwards | {s['vectorised']:.3f} s | {x['vectorised']:.2f}x |",
        f"| {head} | vectorised + reused z_B (1 forward) | {s['reuse']:.3f} s | {x['total']:.2f}x "
        f"(reuse alone {x['reuse']:.2f}x) |",
        f"| {head} | cost terms alone, fwd+bwd | {c['costs_looped_s'] * 1e3:.2f} -> "
        f"{c['costs_vectorised_s'] * 1e3:.2f} ms | {cost_ratio:.2f}x |",
        f"| {head} | all potentials alone, fwd+bwd | {c['potentials_looped_s'] * 1e3:.2f} -> "
        f"{c['potentials_vectorised_s'] * 1e3:.2f} ms | {potentials_ratio:.2f}x |",
        f"\nlooped vs vectorised from one state: relative gaps loss {a['loss']:.1e}, network gradient "
        f"{a['network_gradient']:.1e}, potentials loss {a['potentials_loss']:.1e}, potentials gradient "
        f"{a['potentials_gradient']:.1e}",
        f"released vs vectorised trajectories over {iterations} iterations: restoration loss max relative gap"
        f" {report['max_relative_loss_gap']:.1e}, potentials loss max absolute gap "
        f"{report['max_abs_potential_loss_gap']:.1e}, network weights max gap {report['max_weight_gap']:.1e}; "
        f"first restoration loss identical with reuse: {report['first_loss_equal_in_reuse']}",
    ])


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


def add_training_arguments(parser) -> None:
    """Options of ``bench train``."""
    parser.add_argument("--preset", default="tiny", help="model preset (tiny, reference, paper-light)")
    parser.add_argument("--patch", type=int, default=32, help="training patch side (multiple of 8)")
    parser.add_argument("--batch", type=int, default=3, help="batch size (released code: 3)")
    parser.add_argument("--iters", type=int, default=10, help="timed iterations per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--potentials", default="reference", choices=("reference", "pooled"))
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the report to this JSON file")


def run_training_benchmark(args) -> int:
    """``bench train``: print the Markdown rows of :func:`compare_training`."""
    report = compare_training(args.preset, args.patch, args.batch, args.iters, args.warmup, args.potentials)
    print(format_training(report))
    print(f"machine: {report['machine']}; torch threads {report['threads']}")
    _write_json(args.json, report)
    return 0


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
    print(f"machine: {machine()}")
    _write_json(args.json, {"rows": rows, "machine": machine()})
    return 0


def _write_json(path: Path | None, report: dict) -> None:
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
        with warnings.catch_warnings():  # the skipped POT comparison averages an empty list
            warnings.simplefilter("ignore", RuntimeWarning)
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
    print(f"machine: {machine()}")
    _write_json(args.json, {"rows": rows, "machine": machine()})
    return 0
