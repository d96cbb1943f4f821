"""``baryir demo``: the whole pipeline on a CPU in a few minutes.

1. build the demo benchmark (synthetic degradations of the shipped photographs,
   :func:`baryir.data.build_demo_benchmark`);
2. train the ``tiny`` model on it (:func:`demo_config`: the packaged ``demo``
   config, ``baryir config show demo``);
3. restore the held-out test images with the final weights (``best.pt``, chosen on
   the validation split, is saved too; the demo's two validation photographs are a
   poor guide for the test photographs, so the final weights are reported);
4. write ``metrics.json`` (PSNR of the degraded input and of the restoration per
   task), ``restorations.png``, ``training.png`` and the run folder (checkpoints,
   history) into the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

from baryir.config import TrainConfig, config_from_dict, read_config_values
from baryir.utils import configure_threads

DEMO_STEPS = 800


def demo_config(root: str | Path, out_dir: str | Path, steps: int = DEMO_STEPS, seed: int = 0) -> TrainConfig:
    """Training settings of the demo: the packaged ``demo`` config for this run.

    That config (``baryir config show demo``) trains the tiny model on 24x24
    patches, batch 8, with AdamW 2e-3 (potentials 1e-4), warm-up and cosine decay
    (the released RMSprop 1e-4 schedule needs far more steps than a CPU demo has),
    the potentials step on the reused ``z_B``, and per-task repetitions (mild noise,
    rain and blur more often). ``root``, ``out_dir``, ``steps`` and ``seed`` replace
    its ``data.root``, ``output.dir``, ``loop.steps`` and ``loop.seed``.
    """
    values = read_config_values("demo")
    values["data"]["root"] = str(root)
    values["loop"].update(steps=steps, seed=seed)
    values["output"]["dir"] = str(out_dir)
    return config_from_dict(values)


def evaluate_test_sets(model, root: str | Path, benchmark: str = "demo", max_images: int | None = None,
                       keep_examples: bool = True) -> tuple[dict, list[dict]]:
    """PSNR of the degraded inputs and of ``model``'s restorations per test set.

    Parameters
    ----------
    model : baryir.models.BaryIR
        Whole images go through it (:func:`baryir.evaluate.model_restorer`; the model
        pads to a multiple of 8). PSNR as in :func:`baryir.evaluate.evaluate_set`.
    root : str or Path
        Benchmark root with the test sets of :func:`baryir.data.test_sets`.
    max_images : int, optional
        Use only the first images of each test set.
    keep_examples : bool
        Return the first image of each set (uint8 arrays) for a figure.

    Returns
    -------
    metrics : dict
        ``{test_set: {"psnr_degraded": dB, "psnr_restored": dB, "n_images": n}}``.
    examples : list of dict
        Rows for :func:`baryir.plotting.plot_restoration_rows`.
    """
    from baryir.data import PairedTestDataset, test_sets, to_uint8
    from baryir.evaluate import evaluate_set, model_restorer

    restore = model_restorer(model, device=next(model.parameters()).device)
    metrics, examples = {}, []
    for name in test_sets(benchmark):
        dataset = PairedTestDataset(root, name)
        before = evaluate_set(lambda image: image, dataset, max_images=max_images, progress=False)
        after = evaluate_set(restore, dataset, max_images=max_images, progress=False)
        metrics[name] = {"psnr_degraded": before.psnr, "psnr_restored": after.psnr, "n_images": after.n_images}
        if keep_examples:
            item = dataset[0]
            degraded = to_uint8(item["degraded"])
            examples.append({
                "task": name, "degraded": degraded, "restored": restore(degraded), "clean": to_uint8(item["clean"]),
                "psnr_in": before.per_image[item["name"]][0], "psnr_out": after.per_image[item["name"]][0],
            })
    return metrics, examples


def run_demo(out_dir: str | Path = "runs/demo", steps: int = DEMO_STEPS, seed: int = 0,
             progress: bool = True) -> dict:
    """Build the demo benchmark, train, restore the test images, write the results.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created); the benchmark goes to ``out_dir/benchmark``.
    steps : int
        Training iterations (800 take about two minutes on one CPU core).
    seed : int
    progress : bool
        Show tqdm progress bars.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    from baryir.checkpoint import load_model
    from baryir.data import build_demo_benchmark
    from baryir.plotting import plot_restoration_rows, plot_training_history
    from baryir.train import Trainer

    out_dir = Path(out_dir)
    start = time.perf_counter()
    root = build_demo_benchmark(out_dir / "benchmark", seed=seed)
    config = demo_config(root, out_dir / "run", steps=steps, seed=seed)
    trainer = Trainer(config)
    history = trainer.fit(progress=progress)
    train_seconds = time.perf_counter() - start
    model, _ = load_model(Path(config.output.dir) / "last.pt", "cpu")
    tasks, examples = evaluate_test_sets(model, root)
    result = {
        "steps": steps,
        "seconds_build_and_train": round(train_seconds, 1),
        "seconds_total": round(time.perf_counter() - start, 1),
        "best_val_psnr": trainer.best_metric,
        "tasks": tasks,
    }
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=1))
    plot_restoration_rows(examples).savefig(out_dir / "restorations.png", dpi=100)
    plot_training_history(history).savefig(out_dir / "training.png", dpi=100)
    return result


def register(subparsers) -> None:
    """Add ``baryir demo [--out DIR] [--steps N] [--seed S]``."""
    parser = subparsers.add_parser(
        "demo",
        help="build the demo benchmark, train the tiny model on CPU, restore held-out images",
        description=(
            "End-to-end demo on a CPU (a few minutes): writes metrics.json (PSNR of the "
            "degraded input and of the restoration per task), restorations.png, "
            "training.png and the training run to the output folder."
        ),
    )
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--steps", type=int, default=DEMO_STEPS, help=f"training steps (default {DEMO_STEPS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """Entry point of ``baryir demo``."""
    matplotlib.use("Agg")
    configure_threads()
    result = run_demo(args.out, steps=args.steps, seed=args.seed, progress=not args.no_progress)
    print(f"{'task':<12}{'degraded':>10}{'restored':>10}  (PSNR dB)")
    for name, row in result["tasks"].items():
        print(f"{name:<12}{row['psnr_degraded']:>10.2f}{row['psnr_restored']:>10.2f}")
    print(f"finished in {result['seconds_total']:.0f} s; results in {args.out}")
    return 0
