"""Benchmark evaluation (paper Tables 1, 2, 6, 7) and restoration of your own images.

``baryir eval --ckpt CKPT --benchmark aio3|aio5|demo --data ROOT`` restores every
test set of the benchmark and prints the paper's layout: one row per method, one
``PSNR/SSIM`` column per test set and their average, with the metric convention
(:data:`baryir.metrics.RGB_CONVENTION`) written above the table. When the data is
there it adds the unseen-level columns of Tables 6-7: noise sigma 60 and 75 on
BSD68, and Rain100L for a model trained on Rain100H (``--rain-trained-on
rain100h``; otherwise Rain100H, when present, is the unseen heavier rain).
``--baselines`` adds classical reference rows (:mod:`baryir.baselines`) on the
sets they address. ``--lpips`` / ``--fid`` add the learned metrics when their
weights are stored locally (:func:`baryir.metrics.weights_dir`); otherwise the
table says which were skipped and why, and the evaluation still runs. Results go to ``OUT/table.md``, ``table.csv`` and
``results.json``.

``baryir restore --ckpt CKPT IN... --out DIR [--tile N]`` (or ``--pretrained NAME``
instead of ``--ckpt``, a model shipped with the package, :mod:`baryir.pretrained`;
``baryir eval`` takes it too) restores image files or
folders of them (PNG/JPEG/BMP/TIFF; grayscale is expanded to RGB, the alpha
channel of RGBA is dropped and 16-bit images are reduced to 8 bits, by
:func:`baryir.data.io.read_image`) and writes 8-bit PNGs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from baryir import metrics
from baryir.baselines import BASELINES
from baryir.errors import MissingWeightsError
from baryir.tiling import restore_tiled

#: Unseen noise levels of paper Table 7 (the models are trained on 15/25/50).
UNSEEN_SIGMAS = (60, 75)
#: Which classical baselines run on which kind of test set.
BASELINE_KINDS = {"nlm": ("noise",), "tv": ("noise",), "dcp": ("haze",), "input": None}

RestoreFn = Callable[[np.ndarray], np.ndarray]


# --- restoring images ----------------------------------------------------------------------


def model_restorer(
    model: torch.nn.Module, tile: int | None = None, overlap: int = 32, device: str | torch.device = "cpu"
) -> RestoreFn:
    """Wrap a BaryIR network as ``uint8 (H, W, 3) -> uint8 (H, W, 3)``.

    Parameters
    ----------
    model : BaryIR
        Returns a :class:`~baryir.models.BaryIROutput`; only ``restored`` is used.
    tile, overlap : int
        Tiled inference (:func:`baryir.tiling.restore_tiled`); ``tile=None`` is
        whole-image inference (the protocol of the released code).
    device : str or torch.device
    """
    from baryir.data.io import to_tensor, to_uint8

    device = torch.device(device)
    model = model.to(device).eval()

    def restore(image: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = to_tensor(image).unsqueeze(0)
            out = restore_tiled(lambda t: model(t).restored, x, tile=tile, overlap=overlap, device=device)
        return to_uint8(out)

    return restore


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Image files named directly or found (non-recursively, sorted) in named folders."""
    from baryir.data.io import is_image_file
    from baryir.errors import ImageReadError

    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and is_image_file(p))
            if not found:
                raise ImageReadError(f"{item}: folder holds no image files (png, jpg, bmp, tif)")
            files.extend(found)
        else:
            files.append(item)
    return files


def restore_files(
    restore: RestoreFn, inputs: list[str | Path], out_dir: str | Path, ext: str = ".png", progress: bool = True
) -> list[Path]:
    """Restore image files into ``out_dir`` as ``<stem><ext>`` (8-bit); returns the paths."""
    from baryir.data.io import read_image, write_image

    out_dir = Path(out_dir)
    written = []
    for path in tqdm(expand_inputs(inputs), desc="restore", disable=not progress):
        written.append(write_image(out_dir / f"{path.stem}{ext}", restore(read_image(path))))
    return written


# --- benchmark tables ------------------------------------------------------------------------


@dataclass
class SetResult:
    """Mean metrics over one test set, with the per-image PSNR/SSIM.

    ``lpips`` (mean) and ``fid`` (set-level) are None when not computed.
    """

    name: str
    psnr: float
    ssim: float
    n_images: int
    per_image: dict[str, tuple[float, float]] = field(default_factory=dict)
    lpips: float | None = None
    fid: float | None = None

    def cell(self) -> str:
        """``PSNR/SSIM`` plus ``/LPIPS/FID`` when computed (paper Tables 6-7 layout)."""
        parts = [f"{self.psnr:.2f}", f"{self.ssim:.3f}"]
        parts += [f"{self.lpips:.3f}"] if self.lpips is not None else []
        parts += [f"{self.fid:.2f}"] if self.fid is not None else []
        return "/".join(parts)


@dataclass
class Perceptual:
    """Optional learned metrics that passed their weights check, and why others did not."""

    lpips_model: metrics.LPIPS | None = None
    fid: bool = False
    notes: list[str] = field(default_factory=list)


def load_perceptual(lpips: bool = False, fid: bool = False) -> Perceptual:
    """Check LPIPS / FID weights *before* evaluating; missing ones become notes, not crashes."""
    result = Perceptual()
    if lpips:
        try:
            result.lpips_model = metrics.LPIPS()
        except MissingWeightsError as err:
            result.notes.append(f"LPIPS not computed: {err}")
    if fid:
        try:
            metrics.check_fid_available()
            result.fid = True
        except MissingWeightsError as err:
            result.notes.append(f"FID not computed: {err}")
    return result


def evaluate_set(
    restore: RestoreFn, dataset, y_channel: bool = False, max_images: int | None = None,
    perceptual: Perceptual | None = None, progress: bool = True,
) -> SetResult:  # fmt: skip
    """Metrics of ``restore`` over a :class:`~baryir.data.datasets.PairedTestDataset`.

    Parameters
    ----------
    restore : callable
        uint8 (H, W, 3) -> uint8 (H, W, 3).
    dataset : PairedTestDataset
    y_channel : bool
        Y-channel PSNR/SSIM instead of RGB.
    max_images : int, optional
        Only the first images.
    perceptual : Perceptual, optional
        LPIPS / FID to compute as well (from :func:`load_perceptual`).
    progress : bool
    """
    from baryir.data.io import to_tensor, to_uint8

    perceptual = perceptual or Perceptual()
    n = len(dataset) if max_images is None else min(max_images, len(dataset))
    per_image, lpips_values, fid_sets = {}, [], ([], [])
    for index in tqdm(range(n), desc="images", disable=not progress, leave=False):
        item = dataset[index]
        degraded, clean = to_uint8(item["degraded"]), to_uint8(item["clean"])
        restored = restore(degraded)
        per_image[item["name"]] = (
            metrics.psnr(restored, clean, y_channel=y_channel),
            metrics.ssim(restored, clean, y_channel=y_channel),
        )
        if perceptual.lpips_model is not None or perceptual.fid:
            pair = (to_tensor(restored), to_tensor(clean))
        if perceptual.lpips_model is not None:
            lpips_values.append(float(metrics.lpips(pair[0][None], pair[1][None], perceptual.lpips_model)))
        if perceptual.fid:
            for images, image in zip(fid_sets, pair):
                images.append(metrics.fid_resize(image))
    values = np.array(list(per_image.values()))
    return SetResult(
        dataset.name, float(values[:, 0].mean()), float(values[:, 1].mean()), n, per_image,
        lpips=float(np.mean(lpips_values)) if lpips_values else None,
        fid=metrics.fid(*fid_sets) if perceptual.fid else None,
    )  # fmt: skip


def _set_kind(test_set: str) -> str:
    from baryir.data.layout import parse_test_set

    return parse_test_set(test_set)[0].kind


def _set_exists(root: Path, test_set: str) -> bool:
    from baryir.data.layout import parse_test_set, split_root

    spec = parse_test_set(test_set)[0]
    return spec.clean_dir(split_root(root, "test")).is_dir()


@dataclass
class EvalTable:
    """Results of several methods on several test sets (paper Table 1/2 layout).

    ``rows`` maps method -> test set -> :class:`SetResult`; ``main_sets`` are the
    benchmark's columns (averaged), ``unseen_sets`` the extra Table 6/7 columns.
    """

    benchmark: str
    convention: str
    main_sets: list[str]
    unseen_sets: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, SetResult]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def metric_names(self) -> str:
        """``PSNR (dB) / SSIM`` plus the learned metrics present in the cells."""
        results = [r for row in self.rows.values() for r in row.values()]
        names = ["PSNR (dB)", "SSIM"]
        names += ["LPIPS"] if any(r.lpips is not None for r in results) else []
        names += ["FID"] if any(r.fid is not None for r in results) else []
        return " / ".join(names)

    def average(self, method: str) -> tuple[float, float] | None:
        """Mean PSNR/SSIM over the main sets, or None when a method skipped some."""
        results = self.rows[method]
        if not all(s in results for s in self.main_sets):
            return None
        return (
            float(np.mean([results[s].psnr for s in self.main_sets])),
            float(np.mean([results[s].ssim for s in self.main_sets])),
        )

    def header(self) -> list[str]:
        unseen = [f"{s} (unseen)" for s in self.unseen_sets]
        return ["Method", *self.main_sets, "Average", *unseen]

    def table_rows(self) -> list[list[str]]:
        lines = []
        for method, results in self.rows.items():
            avg = self.average(method)
            cells = [results[s].cell() if s in results else "-" for s in self.main_sets]
            unseen = [results[s].cell() if s in results else "-" for s in self.unseen_sets]
            lines.append([method, *cells, f"{avg[0]:.2f}/{avg[1]:.3f}" if avg else "-", *unseen])
        return lines

    def to_markdown(self) -> str:
        """The table as Markdown, preceded by the benchmark and the metric convention."""
        head = self.header()
        lines = [
            f"Benchmark: {self.benchmark}. {self.metric_names()}; {self.convention}.",
            *self.notes,
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.table_rows()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "benchmark": self.benchmark,
            "convention": self.convention,
            "main_sets": self.main_sets,
            "unseen_sets": self.unseen_sets,
            "notes": self.notes,
            "rows": {
                method: {name: vars(result) for name, result in results.items()}
                for method, results in self.rows.items()
            },
            "averages": {m: self.average(m) for m in self.rows},
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``table.md``, ``table.csv`` and ``results.json`` to ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"md": out_dir / "table.md", "csv": out_dir / "table.csv", "json": out_dir / "results.json"}
        paths["md"].write_text(self.to_markdown() + "\n")
        with open(paths["csv"], "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.header())
            writer.writerows(self.table_rows())
        paths["json"].write_text(json.dumps(self.to_dict(), indent=1))  # inf PSNR -> Infinity
        return paths


def evaluate_benchmark(
    restorers: dict[str, RestoreFn],
    root: str | Path,
    benchmark: str,
    baselines: bool = False,
    unseen: bool = True,
    rain_trained_on: str = "rain100l",
    y_channel: bool = False,
    max_images: int | None = None,
    perceptual: Perceptual | None = None,
    seed: int = 0,
    progress: bool = True,
) -> EvalTable:
    """Evaluate restorers (and optionally classical baselines) on a benchmark's test sets.

    Parameters
    ----------
    restorers : dict
        Method name -> ``uint8 image -> uint8 image`` (e.g. :func:`model_restorer`).
    root : str or Path
        Benchmark root holding ``Test/``.
    benchmark : str
        ``"aio3"``, ``"aio5"`` or ``"demo"``: fixes the main columns.
    baselines : bool
        Add the classical rows of :data:`BASELINE_KINDS` on the sets they address.
    unseen : bool
        Add BSD68 at sigma 60 and 75 (Table 7) when BSD68 is present, and
        Rain100H (heavier rain than the training data) when it is present.
    rain_trained_on : str
        ``"rain100h"`` marks Rain100L as an unseen level (Table 6): the model was
        trained on Rain100H placed in ``Train/Derain``.
    y_channel : bool
        Y-channel metrics instead of the protocol's RGB ones (named in the table).
    max_images : int, optional
        Evaluate only the first images of each set (quick checks).
    perceptual : Perceptual, optional
        LPIPS / FID that passed :func:`load_perceptual`'s check; its notes (metrics
        skipped for missing weights) are written under the table title.
    seed : int
        Seed of the synthetic test noise (fixed, as in the protocol).
    """
    from baryir.data.datasets import PairedTestDataset, test_sets

    root = Path(root)
    main_sets = test_sets(benchmark)
    unseen_sets = []
    if rain_trained_on == "rain100h" and "rain100l" in main_sets:
        main_sets.remove("rain100l")
        unseen_sets.append("rain100l")
    elif unseen and "rain100l" in main_sets and _set_exists(root, "rain100h"):
        unseen_sets.append("rain100h")  # heavier rain than the Rain100L training data
    if unseen and _set_exists(root, "bsd68"):
        unseen_sets += [f"bsd68_{sigma}" for sigma in UNSEEN_SIGMAS]
    convention = metrics.Y_CONVENTION if y_channel else metrics.RGB_CONVENTION
    notes = perceptual.notes if perceptual is not None else []
    table = EvalTable(benchmark, convention, main_sets, unseen_sets, notes=list(notes))
    methods = dict(restorers)
    if baselines:
        methods.update({BASELINES[name].label: name for name in BASELINE_KINDS})
    for method, restore in methods.items():
        table.rows[method] = {}
        for test_set in tqdm(main_sets + unseen_sets, desc=method[:24], disable=not progress):
            fn = baseline_restorer(restore, test_set) if isinstance(restore, str) else restore
            if fn is None:
                continue
            dataset = PairedTestDataset(root, test_set, seed=seed)
            table.rows[method][test_set] = evaluate_set(fn, dataset, y_channel, max_images, perceptual, progress)
    return table


def baseline_restorer(name: str, test_set: str) -> RestoreFn | None:
    """The classical method ``name`` on ``test_set``, or None when it does not apply."""
    kinds = BASELINE_KINDS[name]
    if kinds is not None and _set_kind(test_set) not in kinds:
        return None
    fn = BASELINES[name].fn
    if _set_kind(test_set) == "noise":
        from baryir.data.layout import parse_test_set

        sigma = parse_test_set(test_set)[1]
        return lambda image: fn(image, sigma=sigma)
    return fn


# --- command line ----------------------------------------------------------------------


def _load(args) -> tuple[torch.nn.Module, torch.device, str]:
    """The network of ``--ckpt`` or ``--pretrained``, its device, and a label for tables."""
    from baryir.utils import get_device

    device = get_device(args.device)
    if args.pretrained is not None:
        from baryir import pretrained

        return pretrained.load(args.pretrained, device), device, args.pretrained
    from baryir.checkpoint import load_model

    model, _ = load_model(args.ckpt, device)
    return model, device, Path(args.ckpt).name


def run_eval(args: argparse.Namespace) -> int:
    """``baryir eval``: print and write the benchmark table."""
    perceptual = load_perceptual(lpips=args.lpips, fid=args.fid)  # before any restoration
    for note in perceptual.notes:
        print(note, file=sys.stderr)
    model, device, label = _load(args)
    restorer = model_restorer(model, tile=args.tile, overlap=args.overlap, device=device)
    table = evaluate_benchmark(
        {f"BaryIR ({label})": restorer}, args.data, args.benchmark,
        baselines=args.baselines, unseen=not args.no_unseen, rain_trained_on=args.rain_trained_on,
        y_channel=args.y_channel, max_images=args.max_images, perceptual=perceptual,
        progress=not args.quiet,
    )  # fmt: skip
    print(table.to_markdown())
    if args.out:
        out = Path(args.out)
    elif args.ckpt:
        out = Path(args.ckpt).parent / f"eval_{args.benchmark}"
    else:
        out = Path("runs") / f"eval_{args.pretrained}_{args.benchmark}"
    paths = table.write(out)
    print(f"\nwrote {paths['md']}, {paths['csv'].name}, {paths['json'].name}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    """``baryir restore``: restore the given images into ``--out``."""
    model, device, _ = _load(args)
    restorer = model_restorer(model, tile=args.tile, overlap=args.overlap, device=device)
    written = restore_files(restorer, args.inputs, args.out, ext=args.ext, progress=not args.quiet)
    print(f"restored {len(written)} image(s) into {args.out}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--ckpt", help="checkpoint from baryir train (last.pt / best.pt)")
    weights.add_argument("--pretrained", metavar="NAME",
                         help="a model shipped with the package (see baryir.pretrained.available())")
    parser.add_argument("--tile", type=int, default=None,
                        help="tile side for large images (default: whole-image inference)")
    parser.add_argument("--overlap", type=int, default=32, help="pixels shared by neighbouring tiles")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def register(subparsers) -> None:
    """Add ``baryir eval`` and ``baryir restore``."""
    from baryir.data.layout import BENCHMARKS

    ev = subparsers.add_parser("eval", help="evaluate a checkpoint on a benchmark (Table 1/2 layout)",
                               description=__doc__.split("\n\n")[1])
    _common(ev)
    ev.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    ev.add_argument("--data", required=True, help="benchmark root holding Test/")
    ev.add_argument("--out", default=None,
                    help="output folder (default: next to the checkpoint, or runs/eval_NAME_BENCHMARK)")
    ev.add_argument("--baselines", action="store_true", help="add classical reference rows")
    ev.add_argument("--no-unseen", action="store_true", help="skip the unseen-level columns")
    ev.add_argument("--rain-trained-on", choices=("rain100l", "rain100h"), default="rain100l",
                    help="rain100h: report Rain100L as an unseen level (paper Table 6)")
    ev.add_argument("--y-channel", action="store_true", help="Y-channel metrics (not the paper's)")
    ev.add_argument("--lpips", action="store_true",
                    help="add LPIPS (AlexNet) if its weights are in $BARYIR_WEIGHTS; skipped with a note otherwise")
    ev.add_argument("--fid", action="store_true",
                    help="add FID per test set if pytorch-fid and its weights are available; else skipped")
    ev.add_argument("--max-images", type=int, default=None, help="first N images per set only")
    ev.set_defaults(func=run_eval)

    rs = subparsers.add_parser("restore", help="restore your own images with a checkpoint",
                               description=__doc__.split("\n\n")[2])
    _common(rs)
    rs.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders of images")
    rs.add_argument("--out", required=True, help="output folder")
    rs.add_argument("--ext", default=".png", choices=(".png", ".jpg", ".bmp", ".tif"),
                    help="output format (default lossless PNG)")
    rs.set_defaults(func=run_restore)
