"""The restoration benchmark: a model against the degraded input and classical methods.

``python -m baryir.bench restoration --json FILE [--pretrained NAME]`` scores a shipped
model (:mod:`baryir.pretrained`) on every test set of the demo benchmark plus the
unseen noise levels sigma = 60 and 75 (paper Table 7), next to

- ``degraded``: the input itself;
- ``nlm`` / ``tv``: non-local means and TV denoising, told the true sigma (noise sets);
- ``dcp``: the dark channel prior (haze set).

PSNR in dB with the field's protocol (:func:`baryir.evaluate.evaluate_set`: 8-bit RGB,
scikit-image, cropped to a multiple of 16), averaged over the set's images. The report::

    {"model": NAME, "sha256": the weights' checksum,
     "tasks": {TEST_SET: {"degraded": dB, "model": dB,
                          "nlm": dB or None, "tv": dB or None, "dcp": dB or None}}}

:func:`check_targets` states the demo model's targets (every task at least +1 dB over
its input, above NLM and TV at sigma 25 and 50, above DCP on haze, at least +3 dB at the
unseen sigma 60 and 75) and whether a report meets each.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

#: Noise levels the models never see in training (paper Table 7).
UNSEEN_NOISE_SETS = ("bsd68_60", "bsd68_75")
#: The classical columns, in table order.
CLASSICAL = ("nlm", "tv", "dcp")
#: Default shipped model of the benchmark.
DEFAULT_MODEL = "demo-small"


def benchmark_sets(benchmark: str = "demo") -> list[str]:
    """The benchmark's test sets (:func:`baryir.data.test_sets`) plus the unseen noise levels."""
    from baryir.data import test_sets

    return [*test_sets(benchmark), *UNSEEN_NOISE_SETS]


def score_sets(restore, root: str | Path, sets: list[str], max_images: int | None = None,
               progress: bool = False) -> dict[str, dict[str, float | None]]:
    """PSNR of ``restore``, of the input and of the classical methods on each test set.

    Parameters
    ----------
    restore : callable
        uint8 (H, W, 3) -> uint8 (H, W, 3), e.g. :func:`baryir.evaluate.model_restorer`.
    root : str or Path
        Benchmark root holding ``Test/``.
    sets : list of str
        Evaluation names (``"sots"``, ``"bsd68_25"``, ...).
    max_images : int, optional
        Only the first images of each set.
    progress : bool

    Returns
    -------
    dict
        ``{test_set: {"degraded", "model", "nlm", "tv", "dcp": dB or None}}``; a classical
        method is None on the sets it does not address.
    """
    from tqdm.auto import tqdm

    from baryir.data import PairedTestDataset
    from baryir.evaluate import baseline_restorer, evaluate_set

    tasks = {}
    for name in tqdm(sets, desc="test sets", disable=not progress, leave=False):
        dataset = PairedTestDataset(root, name)
        row = {
            "degraded": evaluate_set(lambda image: image, dataset, max_images=max_images, progress=False).psnr,
            "model": evaluate_set(restore, dataset, max_images=max_images, progress=False).psnr,
        }
        for method in CLASSICAL:
            fn = baseline_restorer(method, name)
            row[method] = None if fn is None else evaluate_set(fn, dataset, max_images=max_images,
                                                               progress=False).psnr
        tasks[name] = row
    return tasks


def restoration_report(name: str = DEFAULT_MODEL, root: str | Path | None = None, max_images: int | None = None,
                       device: str = "cpu", progress: bool = False) -> dict:
    """Score the shipped model ``name`` on the demo test sets (see the module docstring).

    Parameters
    ----------
    name : str
        A model of :func:`baryir.pretrained.available`.
    root : str or Path, optional
        A demo benchmark; by default one is built (seed 0, 128 px, the same files as
        ``baryir data demo``) in a temporary folder.
    max_images : int, optional
    device : str
    progress : bool
    """
    from baryir import pretrained
    from baryir.data import build_demo_benchmark
    from baryir.evaluate import model_restorer

    model = pretrained.load(name, device)
    restore = model_restorer(model, device=device)
    with tempfile.TemporaryDirectory() as scratch:
        if root is None:
            root = build_demo_benchmark(Path(scratch) / "demo", seed=0, size=128)
        tasks = score_sets(restore, root, benchmark_sets("demo"), max_images, progress)
    return {"model": name, "sha256": pretrained.info(name)["sha256"], "tasks": tasks}


def check_targets(report: dict) -> dict[str, bool]:
    """The demo model's targets and whether ``report`` meets each.

    Returns
    -------
    dict
        ``"+1 dB on <set>"`` for every seen set, ``"above NLM and TV at sigma 25"`` and
        ``50``, ``"above DCP on haze"``, ``"+3 dB on <unseen set>"`` -> bool.
    """
    tasks = report["tasks"]
    seen = [name for name in tasks if name not in UNSEEN_NOISE_SETS]
    targets = {f"+1 dB on {name}": tasks[name]["model"] >= tasks[name]["degraded"] + 1.0 for name in seen}
    for sigma in (25, 50):
        row = tasks[f"bsd68_{sigma}"]
        targets[f"above NLM and TV at sigma {sigma}"] = row["model"] > max(row["nlm"], row["tv"])
    targets["above DCP on haze"] = tasks["sots"]["model"] > tasks["sots"]["dcp"]
    for name in UNSEEN_NOISE_SETS:
        targets[f"+3 dB on {name}"] = tasks[name]["model"] >= tasks[name]["degraded"] + 3.0
    return targets


def format_report(report: dict) -> str:
    """A markdown table of a report (one row per test set, PSNR in dB)."""
    header = ["test set", "degraded", report["model"], *CLASSICAL, "gain"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in report["tasks"].items():
        cells = [f"{row[key]:.2f}" if row[key] is not None else "-" for key in ("degraded", "model", *CLASSICAL)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['model'] - row['degraded']:+.2f} |")
    return "\n".join(lines)
