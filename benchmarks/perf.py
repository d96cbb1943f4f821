"""Speed benchmarks: our training iteration against the released one, the network's
kernels, whole-image against tiled inference, and the barycenter solver per thread count.

Run from the repository root (results in ``benchmarks/RESULTS.md``)::

    python -m benchmarks.perf train --preset reference --patch 32 --batch 3 --iters 10
    python -m benchmarks.perf network --preset tiny --patch 64 --batch 8
    python -m benchmarks.perf inference --sizes 1024 2048 --tile 256
    python -m benchmarks.perf solver-threads --threads 1 2

Training (``train``)
--------------------
Six ways to run one BaryIR iteration, each on its own copy of the same initial weights
and fed the same batches, timed in turn (round robin, so a load spike on a shared
machine hits all of them alike; medians over the iterations):

``released``
    :class:`benchmarks.released_loop.ReleasedLoop`, the released algorithm as its
    trainer runs it (per-sample estimator and loops, a second full forward pass, a
    potentials step and a separate one-sample congruence step, ``N + N + K``
    one-sample potential evaluations), on a network with the released kernels in
    the NCHW layout.
``fused``
    The same loop with our LayerNorm and attention kernels, still NCHW.
``channels-last``
    The same loop on our network as it is (channels-last, 1x1 convolutions as GEMMs).
``encoder``
    The same loop with the second forward pass stopping at ``z_B``.
``ours``
    :meth:`baryir.train.Trainer.train_step` with ``loop.potentials_forward=second``
    (the default of the paper-size configs): vectorised cost terms, one batched
    potentials call per source, and one potentials step whose loss holds the
    congruence penalty over the whole batch (``N + N K`` evaluations, batched).
``reuse``
    ``loop.potentials_forward=reuse``: the potentials step reuses the detached ``z_B``
    of the restoration step.

The first four run the same algorithm (their losses agree up to float rounding, which
the report gives); ``ours`` and ``reuse`` run ``baryir``'s iteration, whose potentials
step differs from the released one (one step instead of two, the congruence penalty
on every sample instead of the last one).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from statistics import median

import torch
from torch.utils.data import DataLoader

from baryir.bench import QUICK, BarycenterBenchSettings, machine, toy2d_row, write_json
from baryir.config import load_config
from baryir.data import build_demo_benchmark
from baryir.errors import BaryIRError, ConfigError
from baryir.models import build_model
from baryir.train import Trainer
from baryir.utils import configure_threads
from benchmarks.released_loop import ReleasedLoop, sample_costs, use_released_kernels

# --- the training comparison -----------------------------------------------------------

VARIANT_LABELS = {  # in order: each variant adds one change to the one before
    "released": "released (released kernels, NCHW, loops, 2 full forwards, 2 potentials steps)",
    "fused": "+ fused kernels (LayerNorm, attention)",
    "channels-last": "+ channels-last layout, 1x1 convs as one GEMM",
    "encoder": "+ second forward through encoder and T only",
    "ours": "our iteration: vectorised terms, one potentials step (**our default**)",
    "reuse": "+ reused z_B (no second forward)",
}
VARIANTS = tuple(VARIANT_LABELS)
RELEASED_VARIANTS = ("released", "fused", "channels-last", "encoder")  # the released algorithm
#: Clocks of the training comparison: CPU time of this process, and wall time.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def comparison_overrides(root: str | Path, preset: str, patch: int, batch: int, potentials: str,
                         out_dir: str | Path) -> list[str]:
    """Config overrides of the comparison: the released settings (RMSprop 1e-4, cost
    ``reference``, L1 weight 1e4, congruence weight 10, inverse-frequency lambda, fp32,
    CPU) on the demo benchmark."""
    return [
        f"data.root={root}", "data.benchmark=demo", f"data.patch_size={patch}", "data.validate=false", "loop.keep_best=false",
        "data.source_weights=reference", f"model.preset={preset}", f"model.potentials={potentials}",
        "cost.preset=reference", "optim.name=rmsprop", "optim.lr=1e-4", "optim.l1_weight=10000",
        "optim.congruence_weight=10", f"loop.batch_size={batch}", "loop.steps=100000", "loop.device=cpu",
        "loop.precision=fp32", f"output.dir={out_dir}",
    ]


def build_variants(overrides: list[str]) -> dict[str, object]:
    """One runner per variant, all with the same initial weights (same config seed).

    Returns
    -------
    dict
        ``name -> ReleasedLoop`` for :data:`RELEASED_VARIANTS`, ``name -> Trainer``
        for ``ours`` and ``reuse``.
    """
    runners = {}
    for name in VARIANTS:
        forward = "reuse" if name == "reuse" else "second"
        trainer = Trainer(load_config(None, overrides + [f"loop.potentials_forward={forward}"]))
        if name not in RELEASED_VARIANTS:
            runners[name] = trainer
            continue
        if name == "released":
            use_released_kernels(trainer.model)
        elif name == "fused":
            use_released_kernels(trainer.model, layernorm=False, attention=False)
        second = "encoder" if name == "encoder" else "full"
        runners[name] = ReleasedLoop(trainer.model, trainer.potentials, trainer.weights.tolist(), second)
    return runners


def run_variant(runner, batch: dict) -> dict[str, float]:
    """One iteration of a runner of :func:`build_variants`."""
    return runner.step(batch) if isinstance(runner, ReleasedLoop) else runner.train_step(batch)


def _set_threads(threads: int | None) -> int:
    """:func:`baryir.utils.configure_threads`, with a bad count as a :class:`ConfigError`."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    return configure_threads(threads)


def _relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def _spread(values: list[float]) -> list[float]:
    """``[min, median, max]`` of ``values``."""
    return [min(values), median(values), max(values)]


def _load() -> list[float]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def time_cost_terms(trainer: Trainer, batch: dict, repeats: int) -> dict[str, float]:
    """Median CPU seconds of forward + backward of the cost terms and of the potentials
    alone, released loops against ours, on the latents of ``batch`` (network excluded).

    The released potentials are the ``N + K`` one-sample evaluations of its potentials
    and congruence steps; ours the batched ``N x K`` of our potentials step.
    """
    with torch.no_grad():
        out = trainer.model(batch["degraded"])
    z, source, labels = out.z.detach(), batch["source"], batch["label"]
    nets = trainer.potentials.nets

    def released_potentials(z_b):
        own = [nets[int(k)](z_b[i:i + 1]).reshape(()) for i, k in enumerate(source)]
        return torch.stack(own + [net(z_b[-1:]).reshape(()) for net in nets])

    def timed(fn) -> float:
        samples = []
        for _ in range(repeats + 1):  # the first call warms up
            z_b = out.z_b.detach().clone().requires_grad_(True)
            start = time.process_time()
            fn(z_b).sum().backward()
            samples.append(time.process_time() - start)
        return median(samples[1:])

    return {
        "costs_released_s": timed(lambda z_b: torch.stack(sample_costs(z, z_b, labels.tolist()))),
        "costs_ours_s": timed(lambda z_b: trainer.cost(z, z_b, source, labels)),
        "potentials_released_s": timed(released_potentials),
        "potentials_ours_s": timed(lambda z_b: trainer.potentials.all_sources(z_b)),
    }


def compare_training(preset: str = "tiny", patch: int = 32, batch: int = 3, iters: int = 5, warmup: int = 1,
                     potentials: str = "reference", seed: int = 0, threads: int | None = None) -> dict:
    """Time the six iterations of the module docstring, interleaved, and compare their losses.

    Parameters
    ----------
    preset : str
        Model preset (``tiny``, ``reference``, ...).
    patch, batch : int
        Training patch side (multiple of 8) and batch size.
    iters, warmup : int
        Timed iterations, after ``warmup`` untimed ones (the same batches for all).
    potentials : {"reference", "pooled"}
        Potentials' architecture (``reference`` = the released form).
    seed : int
        Order of the batches.
    threads : int, optional
        torch CPU threads (default ``BARYIR_THREADS`` or 1).

    Returns
    -------
    dict
        Per clock of :data:`CLOCKS` (``"cpu"``, the process's CPU time, which a
        loaded machine barely disturbs with one torch thread; ``"wall"``):
        ``times[clock]`` (every timed iteration per variant, in order),
        ``seconds[clock]`` (their medians), ``speedup[clock]`` (``released``'s median
        / the variant's), ``round_speedup[clock]`` (``[min, median, max]`` over the
        rounds of ``released``'s time / the variant's time in the same round).
        Also ``losses`` per
        variant and iteration (``[restoration, potentials]``), ``released_gap``
        (max relative gap of each released-algorithm variant's restoration losses to
        ``released``'s, whole trajectory), ``first_loss_gap`` (relative gap of each
        variant's first restoration loss, computed before any update, to
        ``released``'s), ``cost_terms`` (:func:`time_cost_terms`, CPU time), ``load`` (load
        averages before and after) and the settings.
    """
    if iters < 1 or warmup < 0:
        raise ConfigError(f"need iters >= 1 and warmup >= 0, got {iters}, {warmup}")
    threads = _set_threads(threads)
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        root = build_demo_benchmark(Path(tmp) / "bench", seed=0, size=max(48, patch))
        runners = build_variants(comparison_overrides(root, preset, patch, batch, potentials, Path(tmp) / "run"))
        loader = DataLoader(runners["ours"].train_set, batch_size=batch, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(seed))
        batches = list(islice(loader, warmup + iters))
    times = {clock: {name: [] for name in VARIANTS} for clock in CLOCKS}
    losses = {name: [] for name in VARIANTS}
    for index, item in enumerate(batches):
        for name, runner in runners.items():
            start = {clock: read() for clock, read in CLOCKS.items()}
            scalars = run_variant(runner, item)
            if index >= warmup:
                for clock, read in CLOCKS.items():
                    times[clock][name].append(read() - start[clock])
            losses[name].append([scalars["loss"], scalars["potential_loss"]])
    seconds = {clock: {name: median(t) for name, t in per_clock.items()} for clock, per_clock in times.items()}
    reference = losses["released"]
    return {
        "preset": preset, "patch": patch, "batch": batch, "iters": iters, "warmup": warmup,
        "potentials": potentials, "threads": threads,
        "parameters": sum(p.numel() for p in runners["ours"].model.parameters()),
        "potential_parameters": sum(p.numel() for p in runners["ours"].potentials.parameters()),
        "times": times, "seconds": seconds,
        "speedup": {clock: {name: s["released"] / s[name] for name in VARIANTS} for clock, s in seconds.items()},
        "round_speedup": {clock: {name: _spread([a / b for a, b in zip(t["released"], t[name])]) for name in VARIANTS}
                          for clock, t in times.items()},
        "losses": losses,
        "released_gap": {name: max(_relative_gap(a[0], b[0]) for a, b in zip(losses[name], reference))
                         for name in RELEASED_VARIANTS},
        "first_loss_gap": {name: _relative_gap(losses[name][0][0], reference[0][0]) for name in VARIANTS},
        "cost_terms": time_cost_terms(runners["ours"], batches[-1], repeats=max(3, iters)),
        "load": {"before": load_before, "after": _load()},
        "machine": machine(),
    }


def format_training(report: dict) -> str:
    """Markdown rows of one training comparison."""
    s, x, r = report["seconds"], report["speedup"], report["round_speedup"]
    c = report["cost_terms"]
    head = f"{report['preset']}, patch {report['patch']}, batch {report['batch']}"
    rows = [f"| {head} | {VARIANT_LABELS[name]} | {s['cpu'][name]:.3f} s | {x['cpu'][name]:.2f}x "
            f"| {r['cpu'][name][0]:.2f}-{r['cpu'][name][2]:.2f}x | {s['wall'][name]:.3f} s | {x['wall'][name]:.2f}x |"
            for name in VARIANTS]
    rows += [
        (f"| {head} | cost terms alone, fwd+bwd | {c['costs_released_s'] * 1e3:.2f} -> "
         f"{c['costs_ours_s'] * 1e3:.2f} ms | {c['costs_released_s'] / c['costs_ours_s']:.2f}x | | | |"),
        (f"| {head} | potentials alone (released N + K, ours N x K), fwd+bwd | "
         f"{c['potentials_released_s'] * 1e3:.2f} -> {c['potentials_ours_s'] * 1e3:.2f} ms | "
         f"{c['potentials_released_s'] / c['potentials_ours_s']:.2f}x | | | |"),
    ]
    gaps = ", ".join(f"{name} {gap:.1e}" for name, gap in report["released_gap"].items() if name != "released")
    first = ", ".join(f"{name} {report['first_loss_gap'][name]:.1e}" for name in ("ours", "reuse"))
    load = report["load"]
    return "\n".join([
        *rows,
        (f"\nreleased algorithm, restoration loss vs released over {report['warmup'] + report['iters']} "
         f"iterations (max relative gap): {gaps}"),
        f"first restoration loss (before any update) vs released: {first}",
        f"load average (1, 5, 15 min) before {_loads(load['before'])}, after {_loads(load['after'])}",
    ])


def _loads(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) or "n/a"


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
                          capture_output=True, text=True, timeout=timeout, check=False)
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


# --- the barycenter solver: one versus two threads ---------------------------------------

TOY2D_TARGET = 1.5  # w2_sq <= 1.5 x noise floor


def solver_thread_rows(threads: list[int], steps: int = 600, repeats: int = 3, seed: int = 0) -> list[dict]:
    """Run the ``toy2d`` row of ``bench barycenter`` with each torch thread count.

    Returns
    -------
    list of dict
        ``threads``, ``seconds`` (training plus the W2 scoring; POT's barycenter
        is skipped), ``ratio_to_floor`` and ``target_met`` (ratio <= :data:`TOY2D_TARGET`).
    """
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


# --- command line --------------------------------------------------------------------------


def _add_size_arguments(parser, iters: int, unit: str) -> None:
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


def run_training(args) -> int:
    report = compare_training(args.preset, args.patch, args.batch, args.iters, args.warmup, args.potentials,
                              threads=args.threads)
    return _print_report(format_training(report), report, args.json)


def run_network(args) -> int:
    report = compare_network(args.preset, args.patch, args.batch, args.iters, args.warmup, args.compile,
                             threads=args.threads)
    return _print_report(format_network(report), report, args.json)


def run_inference(args) -> int:
    if min(args.sizes) < 8 or args.tile < 16:
        raise ConfigError(f"--sizes must be >= 8 and --tile >= 16, got {args.sizes}, {args.tile}")
    rows = []
    for size in args.sizes:
        for tile in (None, args.tile):
            rows.append(inference_case(size, tile, args.overlap, args.preset, args.threads))
            print(format_inference(rows[-1:]), flush=True)
    print(f"machine: {machine()}")
    write_json(args.json, {"rows": rows, "machine": machine()})
    return 0


def run_solver_threads(args) -> int:
    if min(args.threads) < 1 or args.steps < 1 or args.repeats < 1:
        raise ConfigError("--threads, --steps and --repeats must be >= 1")
    rows = solver_thread_rows(args.threads, args.steps, args.repeats)
    for row in rows:
        print(f"| {row['threads']} | {row['steps']} | {row['seconds']:.1f} s | {row['cpu_seconds']:.1f} s "
              f"| {row['ratio_to_floor']:.2f} | {'yes' if row['target_met'] else 'no'} |", flush=True)
    print(f"machine: {machine()}")
    write_json(args.json, {"rows": rows, "machine": machine()})
    return 0


def build_parser() -> argparse.ArgumentParser:
    """``python -m benchmarks.perf {train,network,inference,solver-threads} ...``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    train = commands.add_parser("train", help="training iteration: ours against the released one")
    _add_size_arguments(train, iters=10, unit="iterations")
    train.add_argument("--potentials", default="reference", choices=("reference", "pooled"))
    train.set_defaults(func=run_training)
    network = commands.add_parser("network", help="network forward + backward per kernel variant")
    _add_size_arguments(network, iters=5, unit="forward + backward passes")
    network.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    network.set_defaults(func=run_network)
    inference = commands.add_parser("inference", help="whole-image against tiled inference, fresh processes")
    inference.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="square image sides")
    inference.add_argument("--tile", type=int, default=256, help="tile side of the tiled runs")
    inference.add_argument("--overlap", type=int, default=32)
    inference.add_argument("--preset", default="tiny")
    inference.add_argument("--threads", type=int, default=1)
    inference.add_argument("--json", type=Path, metavar="OUT.json", help="write the rows to this JSON file")
    inference.set_defaults(func=run_inference)
    solver = commands.add_parser("solver-threads", help="toy2d barycenter run time per torch thread count")
    solver.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to compare")
    solver.add_argument("--steps", type=int, default=600, help="solver steps (quick mode: 600)")
    solver.add_argument("--repeats", type=int, default=3, help="independent W2 draws in the score")
    solver.add_argument("--json", type=Path, metavar="OUT.json", help="write the rows to this JSON file")
    solver.set_defaults(func=run_solver_threads)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BaryIRError as err:
        print(f"python -m benchmarks.perf: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
