"""Benchmarks with exact references: ``baryir bench NAME`` / ``python -m baryir.bench NAME``.

Each benchmark is an entry of :data:`BENCHMARKS` (a help line, a function adding its
options to an ``argparse`` parser, and a function running it from the parsed
arguments); :func:`register` turns every entry into a sub-command, so another
benchmark is added by appending one entry.

``barycenter``
    Accuracy of :class:`baryir.barycenter.BarycenterSolver` against exact barycenters
    (the location-scatter benchmark of Korotin et al., 2021 and Kolesov et al., 2024):
    a 2-D location-scatter family of a non-Gaussian base (``toy2d``) and the Gaussian
    NOTB setting (K = 3, lambda = (1/4, 1/4, 1/2)) in several dimensions
    (``gaussian``). Writes a JSON report with ``--json``.
``ablation``
    The paper's Table 8 ablation at demo scale: every variant trained with equal
    budgets and paired seeds, evaluated on seen and unseen degradations, with a
    gradient-balance sweep and linear probes of the latent codes (:mod:`baryir.ablation`).
``restoration``
    A shipped pretrained model against the degraded input and the classical methods
    on the demo test sets and the unseen noise levels (:mod:`baryir.restoration_bench`).

The speed benchmarks (training iteration against the released one, network kernels,
tiled inference, solver threads) are not part of the package: ``python -m
benchmarks.perf`` in the repository (results in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from baryir import toy, utils
from baryir.barycenter import BarycenterSolver, SolverConfig
from baryir.errors import ConfigError

NOTB_WEIGHTS = (0.25, 0.25, 0.5)


@dataclass(frozen=True)
class BarycenterBenchSettings:
    """Sizes of the barycenter benchmark.

    Parameters
    ----------
    dims : tuple of int
        Dimensions of the Gaussian rows (conditioned map).
    steps : int
        Outer solver steps per run (each has ``inner_steps`` map steps).
    n_eval : int
        Samples per source for L2-UVP and BW2-UVP (>= 100k for the reported numbers).
    n_toy : int
        Points per cloud for the 2-D comparison (solver, exact and POT barycenters).
    toy_repeats : int
        Independent draws averaged in the 2-D W2 estimates (W2^2 between two n-samples
        fluctuates by ~50 % from draw to draw).
    pot_repeats : int
        How many of those draws also compute POT's barycenter (the slow part).
    toy_base : str
        Base law of the 2-D location-scatter family (a name in ``toy.TOY_NAMES``).
    shared_dim : int
        Dimension of the extra row with the shared, unconditioned map.
    """

    dims: tuple[int, ...]
    steps: int
    n_eval: int
    n_toy: int
    toy_repeats: int = 10
    pot_repeats: int = 2
    toy_base: str = "ring"
    shared_dim: int = 2


QUICK = BarycenterBenchSettings(dims=(2, 4, 8, 16), steps=600, n_eval=100_000, n_toy=1000)
FULL = BarycenterBenchSettings(dims=(2, 4, 8, 16, 32, 64), steps=2000, n_eval=200_000, n_toy=2000)


def solver_config(dim: int, map_kind: str = "conditioned", seed: int = 0) -> SolverConfig:
    """The solver settings used by the benchmark: the defaults of :class:`SolverConfig`
    (BaryIR's penalty congruence with weight 10, batch 256 per source, 10 map steps per
    potential step, Adam 3e-3 with cosine decay, SiLU MLPs of width max(64, 2d))."""
    return SolverConfig(dim=dim, weights=NOTB_WEIGHTS, map_kind=map_kind, seed=seed)


def source_sampler(problem: toy.LocationScatterBenchmark, shifts=None) -> Callable:
    """Adapt a :class:`toy.LocationScatterBenchmark` to the solver's sampler interface.

    Parameters
    ----------
    problem : toy.LocationScatterBenchmark
    shifts : array-like, shape (K, d), optional
        Move source k by ``shifts[k]`` (its barycenter moves to ``sum_k lambda_k shifts[k]``).
    """
    if shifts is None:
        return lambda n, rng: [problem.sample_source(k, n, rng) for k in range(problem.n_sources)]
    shifts = np.asarray(shifts, dtype=float)
    if shifts.shape != (problem.n_sources, problem.dim):
        raise ValueError(f"shifts must have shape ({problem.n_sources}, {problem.dim}), got {shifts.shape}")
    return lambda n, rng: [problem.sample_source(k, n, rng) + shifts[k] for k in range(problem.n_sources)]


def optimal_dual_value(problem: toy.LocationScatterBenchmark) -> float:
    """``L* = sum_k lambda_k W2^2(P_k, Q*) / 2`` for the cost ``1/2 ||x - y||^2``.

    In a location-scatter family the maps ``x -> A_k x`` are optimal, so W2 equals the
    Bures-Wasserstein distance of the covariances.
    """
    zero = problem.bary_mean
    return 0.5 * sum(
        w * toy.bures_wasserstein_squared(zero, cov, zero, problem.bary_cov)
        for w, cov in zip(problem.weights, problem.covs)
    )


def map_metrics(solver: BarycenterSolver, problem: toy.LocationScatterBenchmark, n: int, seed: int) -> dict:
    """L2-UVP of the maps and BW2-UVP of the pushed samples, with trivial baselines.

    BW2-UVP is computed per source on ``T_k # P_k`` (n pushed samples each) and averaged
    with the weights lambda_k, a stricter score than that of the mixture of the
    pushforwards (whose errors can cancel).
    """
    rng = np.random.default_rng(seed)
    clouds = [problem.sample_source(k, n, rng) for k in range(problem.n_sources)]
    pushed = [solver.transport(x, k) for k, x in enumerate(clouds)]
    truth = [problem.true_map(k, x) for k, x in enumerate(clouds)]
    weights, cov = problem.weights, problem.bary_cov
    zero = problem.bary_mean
    average_cov = np.einsum("k,kij->ij", weights, problem.covs)
    return {
        "l2_uvp": toy.l2_uvp(pushed, truth, weights, cov),
        "bw2_uvp": float(sum(w * toy.bw2_uvp(p, zero, cov) for w, p in zip(weights, pushed))),
        "identity_l2_uvp": toy.l2_uvp(clouds, truth, weights, cov),
        "trivial_bw2_uvp": 100 * toy.bures_wasserstein_squared(zero, average_cov, zero, cov) / np.trace(cov),
    }


def gaussian_row(dim: int, settings: BarycenterBenchSettings, map_kind: str = "conditioned",
                 seed: int = 0, progress: bool = True) -> dict:
    """Train on the NOTB Gaussian setting in dimension ``dim`` and score the maps."""
    start, cpu_start = time.perf_counter(), time.process_time()
    problem = toy.LocationScatterBenchmark(dim, NOTB_WEIGHTS, base="gaussian", seed=seed)
    config = solver_config(dim, map_kind, seed)
    solver = BarycenterSolver(config)
    history = solver.fit(source_sampler(problem), settings.steps, progress=progress)
    optimal = optimal_dual_value(problem)
    gaps = solver.duality_gaps(source_sampler(problem), optimal_value=optimal)
    row = {"dim": dim, "map": map_kind, "congruence": config.congruence, "steps": settings.steps}
    row.update(map_metrics(solver, problem, settings.n_eval, seed + 1))
    row.update({
        "F": history["F"][-1], "optimal_value": optimal,
        "gap_inner": gaps["inner"], "gap_outer": gaps["outer"], "residual_rms": history["residual"][-1],
        "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
    })
    return row


def mixture_sample(clouds_by_source: list[np.ndarray], weights: np.ndarray, n: int) -> np.ndarray:
    """n points of the mixture sum_k lambda_k (cloud k).

    Takes the first ``floor(n lambda_k)`` points of cloud k (each cloud needs at least
    that many), and the remainder from the heaviest source.
    """
    counts = np.floor(n * weights).astype(int)
    counts[np.argmax(weights)] += n - counts.sum()
    return np.concatenate([c[:m] for c, m in zip(clouds_by_source, counts)])


def toy2d_row(settings: BarycenterBenchSettings, seed: int = 0, progress: bool = True) -> dict:
    """2-D location-scatter family of a non-Gaussian base: solver vs exact vs POT.

    ``w2_sq``: W2^2 between n solver samples (the mixture of the pushforwards
    ``sum_k lambda_k T_k # P_k``, ``n lambda_k`` points from each) and n exact barycenter
    samples; ``noise_floor``: W2^2 between two independent n-samples of the exact
    barycenter, the second one made of the true maps' images ``A_k x`` of the *same*
    source points the solver pushes (each ``A_k x`` is an exact draw of Q). The pairing
    matters: W2^2 between two n-samples fluctuates by ~50 % from draw to draw, and with
    independent draws that noise would swamp the solver's error in the ratio;
    ``pot_w2_sq``: W2^2 between POT's n-atom free-support barycenter of
    n points per source and n exact samples. Each is averaged over ``toy_repeats``
    independent draws (``pot_repeats`` for POT). ``w2_sq_per_source`` scores each
    ``T_k # P_k`` alone.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    problem = toy.LocationScatterBenchmark(2, NOTB_WEIGHTS, base=settings.toy_base, seed=seed)
    solver = BarycenterSolver(solver_config(2, "conditioned", seed))
    solver.fit(source_sampler(problem), settings.steps, progress=progress)
    n, weights = settings.n_toy, problem.weights
    rng = np.random.default_rng(seed + 1)
    scores = {"w2_sq": [], "noise_floor": [], "pot_w2_sq": [], "w2_sq_per_source": []}
    for repeat in range(settings.toy_repeats):
        exact = problem.sample_barycenter(n, rng)
        clouds = [problem.sample_source(k, n, rng) for k in range(problem.n_sources)]
        pushed = [solver.transport(x, k) for k, x in enumerate(clouds)]
        scores["w2_sq"].append(toy.w2_squared(mixture_sample(pushed, weights, n), exact))
        scores["w2_sq_per_source"].append([toy.w2_squared(p, exact) for p in pushed])
        exact_images = [problem.true_map(k, x) for k, x in enumerate(clouds)]  # another exact n-sample of Q
        scores["noise_floor"].append(toy.w2_squared(mixture_sample(exact_images, weights, n), exact))
        if repeat < settings.pot_repeats:
            pot = toy.free_support_barycenter(clouds, weights, n, seed=seed + repeat)
            scores["pot_w2_sq"].append(toy.w2_squared(pot, exact))
    row = {key: float(np.mean(values)) if values else None  # pot_w2_sq is None with pot_repeats=0
           for key, values in scores.items() if key != "w2_sq_per_source"}
    row.update({
        "w2_sq_per_source": np.mean(scores["w2_sq_per_source"], axis=0).tolist(),
        "ratio_to_floor": row["w2_sq"] / row["noise_floor"],
        "bary_variance": float(np.trace(problem.bary_cov)),
        "base": settings.toy_base, "n": n, "repeats": settings.toy_repeats, "pot_repeats": settings.pot_repeats,
        "map": "conditioned", "steps": settings.steps,
        "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
    })
    return row


def run_barycenter_benchmark(settings: BarycenterBenchSettings = QUICK, seed: int = 0, progress: bool = True,
                             verbose: bool = False) -> dict:
    """Run the whole barycenter benchmark; return the JSON-ready report.

    Parameters
    ----------
    settings : BarycenterBenchSettings
    seed : int
    progress : bool
        Show the solver's progress bars.
    verbose : bool
        Print each row as soon as it is done.

    Returns
    -------
    dict
        ``toy2d`` (one row), ``gaussian`` (one row per dimension with the conditioned
        map, then one with the shared map at ``settings.shared_dim``), and run
        information (settings, machine, versions, total seconds).
    """
    threads = utils.configure_threads()
    start = time.perf_counter()
    report = {"toy2d": toy2d_row(settings, seed, progress), "gaussian": []}
    if verbose:
        print(format_toy2d_row(report["toy2d"]), flush=True)
    runs = [(d, "conditioned") for d in settings.dims] + [(settings.shared_dim, "shared")]
    for dim, map_kind in runs:
        report["gaussian"].append(gaussian_row(dim, settings, map_kind, seed, progress))
        if verbose:
            print(format_gaussian_row(report["gaussian"][-1]), flush=True)
    report["settings"] = {**settings.__dict__, "dims": list(settings.dims), "seed": seed,
                          "solver": solver_config(2).as_dict()}
    report["machine"] = {**machine(), "torch_threads": threads}
    report["versions"] = utils.versions()
    report["total_seconds"] = time.perf_counter() - start
    return report


def format_toy2d_row(row: dict) -> str:
    """One line summarising the ``toy2d`` row."""
    return (f"toy2d ({row['base']}, n={row['n']}): w2_sq {row['w2_sq']:.4g}, noise floor {row['noise_floor']:.4g} "
            f"(ratio {row['ratio_to_floor']:.2f}), POT {_optional(row['pot_w2_sq'])}  [{row['seconds']:.0f} s]")


def _optional(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_gaussian_row(row: dict) -> str:
    """One line summarising a ``gaussian`` row."""
    return (f"gaussian d={row['dim']:<3} {row['map']:<11} L2-UVP {row['l2_uvp']:.3f} % "
            f"(identity {row['identity_l2_uvp']:.1f} %)  BW2-UVP {row['bw2_uvp']:.3f} % "
            f"(trivial {row['trivial_bw2_uvp']:.2f} %)  [{row['seconds']:.0f} s]")


def _add_barycenter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="dims 2-16, 600 steps (minutes on a CPU); default: the full table, dims 2-64")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the report to this JSON file")
    parser.add_argument("--steps", type=int, help="override the solver steps per run")
    parser.add_argument("--dims", type=int, nargs="+", help="override the Gaussian dimensions")
    parser.add_argument("--n-eval", type=int, help="override the samples per source for L2-UVP/BW2-UVP")
    parser.add_argument("--n-toy", type=int, help="override the points per 2-D cloud")
    parser.add_argument("--repeats", type=int, help="override the repeats of the 2-D W2 estimates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _run_barycenter(args: argparse.Namespace) -> int:
    settings = QUICK if args.quick else FULL
    options = {"steps": "steps", "n_eval": "n-eval", "n_toy": "n-toy", "toy_repeats": "repeats"}
    overrides = {}
    for key, option in options.items():
        value = getattr(args, option.replace("-", "_"))
        if value is not None and value < 1:
            raise ConfigError(f"--{option} must be >= 1, got {value}")
        if value is not None:
            overrides[key] = value
    if args.dims:
        if min(args.dims) < 2:
            raise ConfigError(f"--dims must all be >= 2, got {args.dims}")
        overrides["dims"] = tuple(args.dims)
    settings = BarycenterBenchSettings(**{**settings.__dict__, **overrides})
    report = run_barycenter_benchmark(settings, seed=args.seed, progress=not args.no_progress, verbose=True)
    report["mode"] = "quick" if args.quick else "full"
    print(f"total {report['total_seconds']:.0f} s")
    write_json(args.json, report)
    return 0


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


def write_json(path: Path | None, report: dict) -> None:
    """Write ``report`` as indented JSON to ``path`` (folders created); nothing when None."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")


def _add_ablation_arguments(parser: argparse.ArgumentParser) -> None:
    from baryir.ablation import VARIANTS, AblationSettings

    defaults = AblationSettings()
    parser.add_argument("--json", default=None, help="write the report to this JSON file")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="training steps per variant")
    parser.add_argument("--seeds", type=int, default=len(defaults.seeds), help="seeds per variant (0, 1, ...)")
    parser.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS), metavar="NAME",
                        help=f"variants to train (default all: {', '.join(VARIANTS)})")
    parser.add_argument("--barycenter-weight", type=float, default=None,
                        help="weight of the barycenter terms (default: chosen by the gradient sweep)")
    parser.add_argument("--sweep-steps", type=int, default=defaults.sweep_steps, help="steps of each sweep run")
    parser.add_argument("--work", default="runs/ablation",
                        help="folder for the data and the runs (a rerun reuses finished runs)")
    parser.add_argument("--workers", type=int, default=1, help="runs trained at once, one thread each")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def ablation_command(args: argparse.Namespace) -> str:
    """The command line that reproduces a run of ``ablation`` (every option spelled out)."""
    words = ["python", "-m", "baryir.bench", "ablation", "--steps", str(args.steps), "--seeds", str(args.seeds),
             "--sweep-steps", str(args.sweep_steps), "--work", args.work, "--workers", str(args.workers)]
    if args.barycenter_weight is not None:
        words += ["--barycenter-weight", f"{args.barycenter_weight:g}"]
    if args.variants:
        words += ["--variants", *args.variants]
    if args.json:
        words += ["--json", args.json]
    return shlex.join(words)


def _run_ablation(args: argparse.Namespace) -> int:
    from baryir import ablation

    for option in ("steps", "seeds", "sweep_steps", "workers"):
        if getattr(args, option) < 1:
            raise ConfigError(f"--{option.replace('_', '-')} must be >= 1, got {getattr(args, option)}")
    settings = ablation.AblationSettings(steps=args.steps, seeds=tuple(range(args.seeds)),
                                         barycenter_weight=args.barycenter_weight, sweep_steps=args.sweep_steps)
    started = time.perf_counter()
    report = ablation.run_ablation(settings, args.work, args.variants, args.workers, progress=not args.no_progress)
    info = machine()
    hardware = f"{info['cpu']}, {info['cpu_count']} cores, {info['platform']}, torch {info['torch']}"
    report = {"command": ablation_command(args), "commit": ablation.commit_id(), "hardware": hardware,
              "workers": args.workers, "seconds": time.perf_counter() - started, **report}
    print(ablation.format_report(report))
    write_json(args.json, report)
    return 0


# name -> (help, add_arguments(parser), run(args) -> exit code)
def _add_restoration_arguments(parser: argparse.ArgumentParser) -> None:
    from baryir.restoration_bench import DEFAULT_MODEL

    parser.add_argument("--json", default=None, help="write the report to this JSON file")
    parser.add_argument("--pretrained", default=DEFAULT_MODEL, metavar="NAME",
                        help=f"shipped model to score (default {DEFAULT_MODEL})")
    parser.add_argument("--data", default=None,
                        help="demo benchmark root (default: built in a temporary folder, seed 0, 128 px)")
    parser.add_argument("--max-images", type=int, default=None, help="first N images per test set only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: BARYIR_THREADS or 1)")


def _run_restoration(args: argparse.Namespace) -> int:
    from baryir import restoration_bench

    utils.configure_threads(args.threads)
    started = time.perf_counter()
    report = restoration_bench.restoration_report(args.pretrained, args.data, args.max_images, progress=True)
    print(restoration_bench.format_report(report))
    for target, met in restoration_bench.check_targets(report).items():
        print(f"{'met   ' if met else 'MISSED'} {target}")
    print(f"{time.perf_counter() - started:.0f} s")
    if args.json:
        write_json(Path(args.json), report)
    return 0


BENCHMARKS: dict[str, tuple[str, Callable, Callable]] = {
    "ablation": (
        "the Table 8 variants, seed-paired on the demo data, with linear probes of the latent codes",
        _add_ablation_arguments,
        _run_ablation,
    ),
    "restoration": (
        "a shipped model against the degraded input, NLM, TV and DCP on the demo test sets (+ sigma 60/75)",
        _add_restoration_arguments,
        _run_restoration,
    ),
    "barycenter": (
        "neural barycenter solver vs exact barycenters (2-D toy, Gaussians)",
        _add_barycenter_arguments,
        _run_barycenter,
    ),
}


def _add_benchmark_parsers(subparsers) -> None:
    for name, (help_text, add_arguments, run) in BENCHMARKS.items():
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(parser)
        parser.set_defaults(func=run)


def register(subparsers) -> None:
    """Add ``baryir bench NAME ...`` to the ``baryir`` command line."""
    parser = subparsers.add_parser("bench", help="accuracy benchmarks against exact references",
                                   description="Accuracy benchmarks against exact references.")
    _add_benchmark_parsers(parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True))


def main(argv: list[str] | None = None) -> int:
    """``python -m baryir.bench NAME ...``: the same as ``baryir bench NAME ...``."""
    from baryir.cli import main as cli_main

    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
