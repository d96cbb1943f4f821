"""The paper's Table 8 ablation as a seeded, paired experiment on the demo data.

``python -m baryir.bench ablation --json FILE [--steps N] [--seeds S] [--variants ...]``

Table 8 of the paper asks two questions: does the decoder gain from reading the
barycenter code ``z_B`` (and the source-specific code ``s``) rather than the encoder's
``z``, and which terms of the MLOT cost (eq. 4: distance, contrastive, orthogonality)
matter. This module answers them at demo scale:

1. **Rebalancing sweep.** With the released loss weights the L1 term (x 10^4) carries
   almost all of the gradient on the map ``T``, so the barycenter terms cannot change
   the result. Short runs of the full model at several ``barycenter_weight`` values
   measure the median ratio ``||grad of the barycenter terms|| / ||grad of the L1
   term||`` on the encoder, ``T`` and the decoder (:data:`baryir.train.GRADIENT_FIELDS`);
   the ablation uses the smallest weight whose ratio on ``T`` lies in a stated band
   (:attr:`AblationSettings.target_ratio`), or the one closest to it.
2. **Variants** (:data:`VARIANTS`), each trained for the same steps, batch and
   learning-rate schedule with every seed of :attr:`AblationSettings.seeds`; seed ``k``
   gives every variant the same data order (and the same initialisation where the
   architectures coincide), so differences are seed-paired. The variants with the
   specific branch have the same parameter count, which makes ``original+specific``
   against ``barycenter+specific`` the fair test of the barycenter; the cost variants
   share one architecture. One more variant is the full model at the released weight.
3. **Evaluation** on the demo test sets of the 3-task setting (noise sigma 15/25/50,
   rain, haze; :data:`SEEN_SETS`) and on degradations no variant saw
   (:data:`UNSEEN_SETS`: sigma 60 and 75, rain plus sigma-25 noise), PSNR with the
   field's protocol.
4. **Probes** (:mod:`baryir.probes`): on held-out test images, the leave-one-photograph-out
   accuracy of a linear probe of the degradation type from pooled ``z``, ``z_B`` and
   ``s``, for the trained full model and for the same architecture untrained.
5. **Pushes** (:data:`PUSHES`): the full model with a stronger potentials step, a larger
   ``gamma`` or the squared distance, each an attempt to make ``T`` move the latent
   further from ``z``; their ``||s|| / ||z||`` over training and their probes show
   whether ``z_B`` then loses the degradation type.

The 3-task setting (the paper's Table 1 tasks) replaces Table 8's five tasks because a
CPU budget of minutes per model restores noise, rain and haze but not motion blur (the
shipped model, trained for about an hour, still loses on blur).

Each finished run stores its result in its folder, stamped with a fingerprint of the
code that trains and scores it (:func:`code_fingerprint`); a rerun with the same
settings and the same code reuses it, so an interrupted experiment loses at most the
runs in progress, and a change to the training code retrains everything.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from baryir import probes
from baryir.errors import ConfigError

#: Variant name -> config overrides on top of :func:`common_overrides` (paper Table 8).
VARIANTS: dict[str, tuple[str, ...]] = {
    "original": ("model.overrides.decode_from=original",),
    "original+specific": ("model.overrides.decode_from=original+specific",),
    "barycenter": ("model.overrides.decode_from=barycenter",),
    "barycenter+specific": (),  # BaryIR: decode from (z_B, s), cost = distance + ctr + ort
    "cost: distance only": ("cost.overrides.use_contrastive=false", "cost.overrides.use_orthogonality=false"),
    "cost: distance + ctr": ("cost.overrides.use_orthogonality=false",),
    "cost: distance + ort": ("cost.overrides.use_contrastive=false",),
    "barycenter+specific, released weight": ("optim.barycenter_weight=1.0",),
}
#: Attempts to make ``T`` move the latent: the full model with one change each, trained
#: like the variants and probed like the full model (name -> config overrides).
PUSHES: dict[str, tuple[str, ...]] = {
    "potentials lr x100": ("optim.potentials_lr=0.01",),
    "gamma x20": ("cost.gamma=1.0",),
    "squared distance, potentials lr x100": ("cost.overrides.distance=squared", "optim.potentials_lr=0.01"),
}
#: The full model, against which the seed-paired differences are taken.
FULL = "barycenter+specific"
#: Paper Table 8: 5-degradation average PSNR (dB) of each variant (full model 30.66).
PAPER_TABLE8 = {"original": 27.46, "original+specific": 29.14, "barycenter": 29.89, "barycenter+specific": 30.66,
                "cost: distance only": 29.03, "cost: distance + ctr": 30.03, "cost: distance + ort": 29.41}
#: Training tasks and seen test sets (the 3-task setting on the demo photographs).
BENCHMARK = "demo3"
SEEN_SETS = ("sots", "rain100l", "bsd68_15", "bsd68_25", "bsd68_50")
#: Unseen test sets -> (test set, extra noise sigma on top of its degradation).
UNSEEN_SETS = {"bsd68_60": ("bsd68_60", None), "bsd68_75": ("bsd68_75", None),
               "rain100l+noise25": ("rain100l", 25.0)}
#: Held-out test sets of the probes -> degradation type (noise levels cycle per image).
PROBE_TYPES = {"bsd68": "noise", "rain100l": "rain", "sots": "haze"}
PROBE_SIGMAS = (15.0, 25.0, 50.0)
#: Package files and folders whose code builds, trains and scores a run (this module's
#: scoring and overrides included).
TRAINING_CODE = ("ablation.py", "train.py", "costs.py", "barycenter.py", "toy.py", "checkpoint.py", "config.py",
                 "utils.py", "evaluate.py", "metrics.py", "tiling.py", "models", "data", "configs/demo.yaml")
#: Where the committed report lives in a clone of the repository.
REPORT_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "ablation.json"


@dataclass(frozen=True)
class AblationSettings:
    """Budget and protocol of the ablation (the defaults are the committed run's).

    Parameters
    ----------
    steps : int
        Training steps of every variant.
    seeds : tuple of int
        Seeds, paired across variants.
    patch_size, batch_size : int
        Training patches (side) and patches per step.
    image_side : int
        Side of the demo benchmark's images (training and test).
    preset : str
        Model preset of every variant.
    lr : float
        Peak learning rate (AdamW, warm-up then cosine decay to 5 %).
    barycenter_weight : float or None
        Weight of the barycenter terms; None chooses it with the sweep.
    sweep_weights : tuple of float
        Weights tried by the sweep (full model, seed ``seeds[0]``).
    sweep_steps : int
        Steps of each sweep run.
    target_ratio : tuple of float
        Band for the median gradient-norm ratio (barycenter / L1) on ``T``.
    """

    steps: int = 1500
    seeds: tuple[int, ...] = (0, 1, 2)
    patch_size: int = 32
    batch_size: int = 8
    image_side: int = 128
    preset: str = "tiny"
    lr: float = 2.0e-3
    barycenter_weight: float | None = None
    sweep_weights: tuple[float, ...] = (1.0, 10.0, 30.0, 100.0, 300.0)
    sweep_steps: int = 300
    target_ratio: tuple[float, float] = (0.1, 0.3)


def code_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the code of :data:`TRAINING_CODE`, in a fixed order.

    Python files count by their syntax tree without docstrings (``ast.dump``), so a
    comment or docstring edit keeps the fingerprint and any code change alters it; the
    YAML config counts byte for byte. Library versions are not included (the report's
    ``hardware`` names torch's). A run's settings are its config overrides, kept beside it.
    """
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for entry in TRAINING_CODE:
        path = package / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            text = file.read_bytes() if file.suffix != ".py" else _code_without_docstrings(file.read_text()).encode()
            digest.update(file.relative_to(package).as_posix().encode() + b"\0" + text)
    return digest.hexdigest()[:16]


def _code_without_docstrings(source: str) -> str:
    """``ast.dump`` of a module with every module, class and function docstring removed."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def common_overrides(settings: AblationSettings, root: str | Path, seed: int, steps: int, out_dir: str | Path,
                     barycenter_weight: float) -> list[str]:
    """Config overrides shared by every run (on top of the packaged ``demo`` config)."""
    return [
        f"data.root={root}", f"data.benchmark={BENCHMARK}", "data.oversample={}", "data.validate=false",
        f"data.patch_size={settings.patch_size}", f"model.preset={settings.preset}", f"optim.lr={settings.lr}",
        f"optim.barycenter_weight={barycenter_weight}", f"loop.steps={steps}",
        f"loop.batch_size={settings.batch_size}", "loop.device=cpu", f"loop.seed={seed}", "loop.val_every=0",
        "loop.keep_best=false", f"loop.checkpoint_every={max(steps // 5, 1)}", f"loop.log_every={max(steps // 30, 1)}",
        f"output.dir={out_dir}",
    ]


def gradient_ratios(history: list[dict]) -> dict[str, float | None]:
    """Median ``grad_bary_<group> / grad_l1_<group>`` over a history's logged steps.

    None for a group the L1 term does not reach (``T`` when the decoder reads ``z``).
    """
    ratios = {}
    for group in ("encoder", "map", "decoder"):
        values = [r[f"grad_bary_{group}"] / r[f"grad_l1_{group}"] for r in history
                  if r.get(f"grad_l1_{group}")]
        ratios[group] = float(np.median(values)) if values else None
    return ratios


def choose_weight(weights, ratios_on_map, band: tuple[float, float]) -> float:
    """The smallest weight whose ratio on ``T`` lies in ``band``; else the one closest
    (in log ratio) to the band's geometric centre."""
    inside = [w for w, r in zip(weights, ratios_on_map) if band[0] <= r <= band[1]]
    if inside:
        return float(min(inside))
    centre = np.log(np.sqrt(band[0] * band[1]))
    return float(min(zip(weights, ratios_on_map), key=lambda wr: abs(np.log(max(wr[1], 1e-12)) - centre))[0])


def slug(name: str) -> str:
    """A folder name for a variant (``"cost: distance + ctr"`` -> ``"cost_distance_ctr"``)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def score_model(model: torch.nn.Module, root: str | Path) -> dict[str, float]:
    """PSNR (dB) of a model on :data:`SEEN_SETS` and :data:`UNSEEN_SETS` of ``root``."""
    from baryir.data import PairedTestDataset
    from baryir.evaluate import evaluate_set, model_restorer

    restore = model_restorer(model) if model is not None else (lambda image: image)
    sets = {name: (name, None) for name in SEEN_SETS} | UNSEEN_SETS
    return {name: evaluate_set(restore, PairedTestDataset(root, test_set, sigma=sigma), progress=False).psnr
            for name, (test_set, sigma) in sets.items()}


def _run_job(job: dict) -> dict:
    """Train one run (a variant and a seed, or a sweep point) and score it; cached in its folder."""
    from baryir.checkpoint import load_model
    from baryir.config import load_config
    from baryir.models import count_parameters
    from baryir.train import train

    torch.set_num_threads(1)
    out_dir = Path(job["out_dir"])
    result_path = out_dir / "result.json"
    if result_path.is_file():
        cached = json.loads(result_path.read_text())
        if cached.get("overrides") == job["overrides"] and cached.get("code") == job["code"]:
            return cached
    config = load_config("demo", job["overrides"])
    started = time.perf_counter()
    history = train(config, progress=False)
    model = load_model(out_dir / "last.pt", "cpu")[0]
    result = {
        "overrides": job["overrides"],
        "code": job["code"],
        "parameters": count_parameters(model),
        "seconds": time.perf_counter() - started,
        "gradient_ratio": gradient_ratios(history),
        "s_over_z": [[r["step"], r["s_over_z"]] for r in history],
        "final_l1": history[-1]["l1"],
        "psnr": None if job.get("sweep") else score_model(model, job["root"]),
    }
    result_path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _run_jobs(jobs: list[dict], workers: int, progress: bool, desc: str) -> list[dict]:
    from tqdm.auto import tqdm

    results = []
    with tqdm(total=len(jobs), desc=desc, disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                results.append(_run_job(job))
                bar.update(1)
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for future in [pool.submit(_run_job, job) for job in jobs]:
                    results.append(future.result())
                    bar.update(1)
    return results


def probe_set(root: str | Path, crop: int = 64, seed: int = 0, split: str = "test",
              ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Held-out probe images: crops of the seen test sets with their type and photograph.

    Every test image of :data:`PROBE_TYPES` (noise levels cycling through
    :data:`PROBE_SIGMAS` from image to image) is cut into non-overlapping ``crop`` x
    ``crop`` tiles. The photograph of each image comes from the demo manifest.
    ``split="val"`` takes the validation photographs instead (to choose a probe's
    settings without looking at the test photographs).

    Returns
    -------
    images : Tensor (N, 3, crop, crop)
    types : array (N,) of str
        ``"noise"``, ``"rain"`` or ``"haze"``.
    photographs : array (N,) of str
        The photograph (e.g. ``"chelsea"``), the probes' cross-validation group.
    """
    from baryir.data import PairedTestDataset
    from baryir.data.layout import DEMO_MANIFEST

    manifest = json.loads((Path(root) / DEMO_MANIFEST).read_text())["files"]
    photo_of = {(r["set"], Path(r["degraded"] or r["clean"]).stem): r["source_photo"].rsplit("_", 1)[0]
                for r in manifest if r["split"] == split}
    images, types, photographs = [], [], []
    for test_set, kind in PROBE_TYPES.items():
        datasets = ([PairedTestDataset(root, test_set, sigma=s, seed=seed, split=split) for s in PROBE_SIGMAS]
                    if kind == "noise" else [PairedTestDataset(root, test_set, split=split)])
        for index in range(len(datasets[0])):
            item = datasets[index % len(datasets)][index]
            image = item["degraded"]
            for top in range(0, image.shape[1] - crop + 1, crop):
                for left in range(0, image.shape[2] - crop + 1, crop):
                    images.append(image[:, top:top + crop, left:left + crop])
                    types.append(kind)
                    photographs.append(photo_of[(test_set, item["name"])])
    return torch.stack(images), np.array(types), np.array(photographs)


def probe_model(model: torch.nn.Module, images: torch.Tensor, types, photographs) -> dict[str, float]:
    """Leave-one-photograph-out probe accuracy of the degradation type from pooled z, z_B, s."""
    codes = probes.pooled_codes(model, images)
    return {name: probes.probe_accuracy(features, types, photographs) for name, features in codes.items()}


def summarise(results: dict[str, list[dict]], seeds) -> dict:
    """The ``variants`` part of the report from the per-run results."""
    variants = {}
    for name, runs in results.items():
        psnr = {test_set: [run["psnr"][test_set] for run in runs] for test_set in runs[0]["psnr"]}
        variants[name] = {
            "parameters": runs[0]["parameters"], "seeds": list(seeds), "psnr": psnr,
            "average_seen": [float(np.mean([run["psnr"][s] for s in SEEN_SETS])) for run in runs],
            "average_unseen": [float(np.mean([run["psnr"][s] for s in UNSEEN_SETS])) for run in runs],
            "gradient_ratio": [run["gradient_ratio"] for run in runs],
            "s_over_z": [run["s_over_z"] for run in runs],
            "train_seconds": [run["seconds"] for run in runs],
        }
    return variants


def commit_id() -> str | None:
    """The repository's current commit, with ``+dirty`` for uncommitted changes (None outside git)."""
    try:
        here = Path(__file__).parent
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here.parent, capture_output=True,
                               text=True, check=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def run_ablation(settings: AblationSettings, work_dir: str | Path, variants=None, workers: int = 1,
                 progress: bool = True) -> dict:
    """The whole experiment: sweep, variants x seeds, evaluation and probes.

    Parameters
    ----------
    settings : AblationSettings
    work_dir : str or Path
        Holds the demo benchmark and one folder per run (reused by a rerun).
    variants : list of str, optional
        Names of :data:`VARIANTS` (default all); :data:`FULL` is always included.
    workers : int
        Runs trained at the same time (processes of one thread each).
    progress : bool

    Returns
    -------
    dict
        ``code`` (:func:`code_fingerprint` of every run), ``steps``, ``settings``,
        ``sweep`` (weights, median ratios per group, the chosen
        weight), ``degraded`` (input PSNR per test set), ``variants`` (per variant:
        ``parameters``, ``seeds``, ``psnr`` {test set: [dB per seed]}, ``average_seen``,
        ``average_unseen``, ``gradient_ratio``, ``s_over_z`` and ``train_seconds`` per
        seed), ``probes`` (``trained``, ``untrained``: {z, z_b, s}: accuracy, mean over
        seeds; ``per_seed``; ``chance``; ``samples``), ``pushes`` (per entry of
        :data:`PUSHES`: the variants' fields, its ``overrides`` and ``probes``, one
        {z, z_b, s} per seed), ``paper_table8``.
    """
    from baryir.checkpoint import load_model
    from baryir.data import build_demo_benchmark
    from baryir.models import build_model
    from baryir.utils import seed_everything

    names = list(VARIANTS) if not variants else list(dict.fromkeys([FULL, *variants]))
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise ConfigError(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    work = Path(work_dir)
    code = code_fingerprint()
    root, stamp = work / f"demo_benchmark_{settings.image_side}", work / f"demo_benchmark_{settings.image_side}.code"
    if root.exists() and not (stamp.is_file() and stamp.read_text() == code):
        shutil.rmtree(root)  # built by other (or unknown) data code: build it afresh
    if not (root / "demo_manifest.json").is_file():
        build_demo_benchmark(root, seed=0, size=settings.image_side)
        stamp.write_text(code)

    sweep_jobs = [{"root": str(root), "code": code, "sweep": True, "out_dir": str(work / "sweep" / f"weight_{w:g}"),
                   "overrides": common_overrides(settings, root, settings.seeds[0], settings.sweep_steps,
                                                 work / "sweep" / f"weight_{w:g}", w)}
                  for w in settings.sweep_weights]
    sweep_runs = _run_jobs(sweep_jobs, workers, progress, "sweep")
    ratios = {g: [run["gradient_ratio"][g] for run in sweep_runs] for g in ("encoder", "map", "decoder")}
    weight = settings.barycenter_weight
    if weight is None:
        weight = choose_weight(settings.sweep_weights, ratios["map"], settings.target_ratio)

    jobs, keys = [], []
    for name in names:
        for seed in settings.seeds:
            out_dir = work / slug(name) / f"seed_{seed}"
            overrides = common_overrides(settings, root, seed, settings.steps, out_dir, weight) + list(VARIANTS[name])
            jobs.append({"root": str(root), "code": code, "out_dir": str(out_dir), "overrides": overrides})
            keys.append(name)
    for name, extra in PUSHES.items():
        for seed in settings.seeds:
            out_dir = work / "push" / slug(name) / f"seed_{seed}"
            overrides = common_overrides(settings, root, seed, settings.steps, out_dir, weight) + list(extra)
            jobs.append({"root": str(root), "code": code, "out_dir": str(out_dir), "overrides": overrides})
            keys.append(("push", name))
    runs = _run_jobs(jobs, workers, progress, "variants")
    results = {name: [run for key, run in zip(keys, runs) if key == name] for name in names}
    pushed = {name: [run for key, run in zip(keys, runs) if key == ("push", name)] for name in PUSHES}

    images, types, photographs = probe_set(root)
    per_seed = {"trained": [], "untrained": []}
    for seed in settings.seeds:
        per_seed["trained"].append(probe_model(load_model(work / slug(FULL) / f"seed_{seed}" / "last.pt", "cpu")[0],
                                               images, types, photographs))
        seed_everything(seed)
        per_seed["untrained"].append(probe_model(build_model(settings.preset), images, types, photographs))
    if "barycenter+specific, released weight" in names:
        per_seed["trained, released weight"] = [
            probe_model(load_model(work / slug("barycenter+specific, released weight") / f"seed_{seed}" / "last.pt",
                                   "cpu")[0], images, types, photographs) for seed in settings.seeds]
    pushes = summarise(pushed, settings.seeds)
    for name, row in pushes.items():
        row["overrides"] = list(PUSHES[name])
        row["probes"] = [probe_model(load_model(work / "push" / slug(name) / f"seed_{seed}" / "last.pt", "cpu")[0],
                                     images, types, photographs) for seed in settings.seeds]
    probe_report = {kind: {code: float(np.mean([run[code] for run in runs_])) for code in ("z", "z_b", "s")}
                    for kind, runs_ in per_seed.items()}
    probe_report.update({"per_seed": per_seed, "chance": probes.chance_level(types), "samples": len(types),
                         "photographs": sorted(set(photographs.tolist()))})
    return {
        "code": code,
        "steps": settings.steps,
        "settings": {**dataclasses.asdict(settings), "barycenter_weight": weight, "benchmark": BENCHMARK},
        "sweep": {"weights": list(settings.sweep_weights), "steps": settings.sweep_steps, "ratio": ratios,
                  "chosen_weight": weight, "target_ratio": list(settings.target_ratio)},
        "degraded": score_model(None, root),
        "variants": summarise(results, settings.seeds),
        "probes": probe_report,
        "pushes": pushes,
        "paper_table8": PAPER_TABLE8,
    }


def load_report(path: str | Path | None = None) -> dict:
    """Read an ablation report (default: the committed one, :data:`REPORT_PATH`).

    Raises
    ------
    ConfigError
        When the file is missing (it is in a clone of the repository, not in an
        installed package) or is not a report.
    """
    path = Path(path) if path is not None else REPORT_PATH
    try:
        report = json.loads(path.read_text())
    except OSError:
        raise ConfigError(f"{path}: no ablation report; use a clone of the repository or write one with "
                          "`python -m baryir.bench ablation --json FILE`") from None
    except ValueError as error:
        raise ConfigError(f"{path}: not a JSON ablation report ({error})") from None
    if not isinstance(report, dict) or not {"variants", "probes", "sweep", "degraded"} <= set(report):
        raise ConfigError(f"{path}: not an ablation report (no variants/probes/sweep/degraded)")
    return report


def format_report(report: dict) -> str:
    """A markdown table: mean +- std over seeds per variant and test set, and the averages."""
    sets = [*SEEN_SETS, *UNSEEN_SETS]
    header = ["variant", "params", *sets, "avg seen", "avg unseen", "paper (5 tasks)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    degraded = report["degraded"]
    lines.append("| degraded input | - | " + " | ".join(f"{degraded[s]:.2f}" for s in sets) + " | "
                 f"{np.mean([degraded[s] for s in SEEN_SETS]):.2f} | {np.mean([degraded[s] for s in UNSEEN_SETS]):.2f} | - |")
    for name, row in report["variants"].items():
        cells = [f"{np.mean(row['psnr'][s]):.2f} ± {np.std(row['psnr'][s]):.2f}" for s in sets]
        cells += [f"{np.mean(row[k]):.2f} ± {np.std(row[k]):.2f}" for k in ("average_seen", "average_unseen")]
        paper = report["paper_table8"].get(name)
        lines.append(f"| {name} | {row['parameters']:,} | " + " | ".join(cells) + f" | {paper if paper else '-'} |")
    return "\n".join(lines)


def paired_differences(report: dict, key: str = "average_seen") -> dict[str, tuple[float, float]]:
    """Seed-paired difference of each variant to :data:`FULL`: (mean, std) over seeds, in dB."""
    full = np.array(report["variants"][FULL][key])
    return {name: (float(np.mean(np.array(row[key]) - full)), float(np.std(np.array(row[key]) - full)))
            for name, row in report["variants"].items() if name != FULL}
