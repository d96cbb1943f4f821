"""The PromptIR-compatible folder layout of the all-in-one benchmarks, and its checker.

A benchmark root holds ``Train/`` (training tasks), ``Test/`` (test sets) and,
optionally, ``Val/`` (a validation split in the ``Test/`` layout; the demo benchmark
has one, for the real benchmarks see ``data/README.md``)::

    ROOT/Train/Denoise/**/<name>.<ext>                     clean only (BSD400 + WED); noise
                                                           is synthesised on the fly
    ROOT/Train/Derain/rainy/rain-<n>.png  + gt/norain-<n>.png              (Rain100L)
    ROOT/Train/Dehaze/synthetic/part*/<id>_<A>_<beta>.jpg + original/<id>.jpg (RESIDE OTS)
    ROOT/Train/Deblur/blur/<name>         + sharp/<name>                   (GoPro)
    ROOT/Train/lowlight/low/<name>        + high/<name>                    (LOL-v1)
    ROOT/Test/denoise/bsd68/<name>                         clean only (CBSD68)
    ROOT/Test/derain/Rain100L/input/rain-<n>.png + target/norain-<n>.png
    ROOT/Test/dehaze/input/<id>_<A>_<beta>.jpg + target/<id>.png           (SOTS outdoor)
    ROOT/Test/deblur/GoPro/input/<name>   + target/<name>
    ROOT/Test/lowlight/LOL/input/<name>   + target/<name>

This is PromptIR's layout (its ``data/Train`` and ``test`` folders; lower-case split
folder names are accepted too) extended with deblurring and low-light folders.
Pairs are matched by file name (never by sort order), ignoring the extension:
``rain-<n>`` <-> ``norain-<n>`` (identical names are accepted too); ``<id>_<A>_<beta>``
<-> ``<id>``; otherwise the same name. Hidden files are ignored; other non-image files are reported by the checker.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from baryir.data.io import image_size, is_image_file, read_image
from baryir.errors import ConfigError, DatasetLayoutError

PAIRINGS = ("clean_only", "rain", "haze", "same_name")
SPLIT_FOLDERS = {"train": "Train", "test": "Test", "val": "Val"}


@dataclass(frozen=True)
class FolderSpec:
    """Where one training task or test set lives and how its files pair up.

    Attributes
    ----------
    name : str
        Task name (``"derain"``) or test-set name (``"rain100l"``).
    kind : str
        Degradation kind, a key of :data:`baryir.data.degradations.DEGRADATIONS`.
    folder : str
        Folder relative to the split folder (``Train/``, ``Test/`` or ``Val/``).
    pairing : str
        One of :data:`PAIRINGS`.
    degraded, clean : str
        Sub-folders of ``folder`` with the degraded and the clean images (``degraded``
        is empty for ``clean_only``; ``clean`` empty means ``folder`` itself).
    source : str
        The public data set that fills it in the real benchmark.
    expected : int or None
        File count (pairs, or clean images) of the real data set.
    """

    name: str
    kind: str
    folder: str
    pairing: str
    degraded: str
    clean: str
    source: str
    expected: int | None

    def degraded_dir(self, split_root: Path) -> Path:
        return Path(split_root) / self.folder / self.degraded

    def clean_dir(self, split_root: Path) -> Path:
        return Path(split_root) / self.folder / self.clean

    def describe(self, split_folder: str) -> str:
        """One line giving the expected layout, e.g. for error messages."""
        base = f"{split_folder}/{self.folder}"
        if self.pairing == "clean_only":
            return f"{base}/<name>.png|jpg|bmp (clean images only, sub-folders allowed; {self.source})"
        degraded_name, clean_name = {
            "rain": ("rain-<n>.png", "norain-<n>.png"),
            "haze": ("<id>_<A>_<beta>.jpg", "<id>.jpg|png"),
            "same_name": ("<name>", "<name>"),
        }[self.pairing]
        sub = f"{self.degraded}/part*" if self.degraded == "synthetic" else self.degraded
        return (f"{base}/{sub}/{degraded_name} paired with "
                f"{base}/{self.clean}/{clean_name} ({self.source})")


_NOISE_SOURCE = "BSD400 + WED, 400 + 4744 images"

#: Training tasks: name -> folder layout. Noise levels share the clean folder.
TASKS: dict[str, FolderSpec] = {
    **{
        f"denoise_{sigma}": FolderSpec(f"denoise_{sigma}", "noise", "Denoise", "clean_only", "", "",
                                       _NOISE_SOURCE, 5144)
        for sigma in (15, 25, 50)
    },
    "derain": FolderSpec("derain", "rain", "Derain", "rain", "rainy", "gt", "Rain100L train", 200),
    "dehaze": FolderSpec("dehaze", "haze", "Dehaze", "haze", "synthetic", "original",
                         "RESIDE OTS, hazy images", 72135),
    "deblur": FolderSpec("deblur", "blur", "Deblur", "same_name", "blur", "sharp", "GoPro train", 2103),
    "lowlight": FolderSpec("lowlight", "lowlight", "lowlight", "same_name", "low", "high",
                           "LOL-v1 train", 485),
}

#: Test sets (also the layout of the optional ``Val/`` split): name -> folder layout.
TEST_SETS: dict[str, FolderSpec] = {
    "sots": FolderSpec("sots", "haze", "dehaze", "haze", "input", "target",
                       "SOTS outdoor", 500),
    "rain100l": FolderSpec("rain100l", "rain", "derain/Rain100L", "rain", "input", "target",
                           "Rain100L test", 100),
    "rain100h": FolderSpec("rain100h", "rain", "derain/Rain100H", "rain", "input", "target",
                           "Rain100H test", 100),
    "bsd68": FolderSpec("bsd68", "noise", "denoise/bsd68", "clean_only", "", "",
                        "CBSD68 (colour)", 68),
    "gopro": FolderSpec("gopro", "blur", "deblur/GoPro", "same_name", "input", "target",
                        "GoPro test", 1111),
    "lol": FolderSpec("lol", "lowlight", "lowlight/LOL", "same_name", "input", "target",
                      "LOL-v1 eval15", 15),
}


def split_root(root: str | Path, split: str) -> Path:
    """``ROOT/Train``, ``ROOT/Test`` or ``ROOT/Val`` for ``split`` in train/test/val.

    The lower-case folder (``ROOT/test``, as in PromptIR) is used when only it exists.
    """
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLIT_FOLDERS)}")
    folder = Path(root) / SPLIT_FOLDERS[split]
    lower = Path(root) / SPLIT_FOLDERS[split].lower()
    return lower if not folder.is_dir() and lower.is_dir() else folder


def _layout_error(path: Path, problem: str, spec: FolderSpec, split_folder: str) -> DatasetLayoutError:
    return DatasetLayoutError(
        f"{path}: {problem}. Expected layout: {spec.describe(split_folder)}. "
        "See data/README.md, and run `baryir data check ROOT` for a full report."
    )


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (see :func:`baryir.data.io.is_image_file`), sorted by name."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted((p for p in candidates if p.is_file() and is_image_file(p)), key=lambda p: p.as_posix())


def non_image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Visible files in ``folder`` that are not images (reported, then ignored)."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in candidates if p.is_file() and not p.name.startswith(".") and not is_image_file(p))


def clean_stem(pairing: str, degraded_stem: str) -> str:
    """The clean file's name (without extension) that pairs with a degraded one."""
    if pairing == "rain" and degraded_stem.startswith("rain-"):
        return "norain-" + degraded_stem[len("rain-"):]
    if pairing == "haze":
        return degraded_stem.split("_")[0]
    return degraded_stem


def _existing_dir(path: Path, spec: FolderSpec, split_folder: str) -> Path:
    if not path.is_dir():
        raise _layout_error(path, "folder not found", spec, split_folder)
    return path


def _index_by_stem(files: list[Path], spec: FolderSpec, split_folder: str) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in files:
        if path.stem in index:
            raise _layout_error(path, f"two clean images share the name {path.stem!r} "
                                f"({index[path.stem].name}, {path.name})", spec, split_folder)
        index[path.stem] = path
    return index


def _names(paths, limit: int = 5) -> str:
    paths = list(paths)
    shown = ", ".join(p.name for p in paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")


def list_pairs(split_dir: str | Path, spec: FolderSpec) -> list[tuple[Path | None, Path]]:
    """Pairs ``(degraded, clean)`` of one task or test set, matched by file name.

    Parameters
    ----------
    split_dir : str or Path
        ``ROOT/Train``, ``ROOT/Test`` or ``ROOT/Val``.
    spec : FolderSpec
        From :data:`TASKS` or :data:`TEST_SETS`.

    Returns
    -------
    list of (Path or None, Path)
        Sorted by degraded file name; ``degraded`` is None for clean-only folders.

    Raises
    ------
    DatasetLayoutError
        A folder is missing or has no images, a degraded image has no clean partner, or
        (one-to-one pairings) a clean image has no degraded partner. The message names
        the path and the expected layout.
    """
    split_dir = Path(split_dir)
    split_folder = split_dir.name
    clean_dir = _existing_dir(spec.clean_dir(split_dir), spec, split_folder)
    clean_files = list_images(clean_dir, recursive=spec.pairing == "clean_only")
    if not clean_files:
        raise _layout_error(clean_dir, "no images found", spec, split_folder)
    if spec.pairing == "clean_only":
        return [(None, path) for path in clean_files]
    degraded_dir = _existing_dir(spec.degraded_dir(split_dir), spec, split_folder)
    degraded_files = list_images(degraded_dir, recursive=spec.pairing == "haze")
    if not degraded_files:
        raise _layout_error(degraded_dir, "no images found", spec, split_folder)
    clean_index = _index_by_stem(clean_files, spec, split_folder)
    pairs = [(path, clean_index.get(clean_stem(spec.pairing, path.stem))) for path in degraded_files]
    orphans = [degraded for degraded, clean in pairs if clean is None]
    if orphans:
        raise _layout_error(degraded_dir, f"{len(orphans)} degraded image(s) without a clean "
                            f"partner in {clean_dir}: {_names(orphans)}", spec, split_folder)
    if spec.pairing != "haze":
        used = {clean for _, clean in pairs}
        unused = [path for path in clean_files if path not in used]
        if unused:
            raise _layout_error(clean_dir, f"{len(unused)} clean image(s) without a degraded "
                                f"partner in {degraded_dir}: {_names(unused)}", spec, split_folder)
    return pairs


def check_image_files(paths, min_size: int | None = None, decode: bool = True,
                      progress: bool = False) -> None:
    """Read every image (or only its header when ``decode`` is False).

    Raises
    ------
    ImageReadError
        The first unreadable file, with its path.
    DatasetLayoutError
        The first image smaller than ``min_size`` in height or width.
    """
    for path in tqdm(list(paths), desc="checking images", disable=not progress, leave=False):
        if decode:
            height, width = read_image(path).shape[:2]
        else:
            height, width = image_size(path)
        if min_size is not None and min(height, width) < min_size:
            raise DatasetLayoutError(
                f"{path}: image is {height}x{width}, smaller than the {min_size}x{min_size} "
                "training patch; use a smaller patch size or remove the image"
            )


@dataclass
class FolderReport:
    """One row of a layout report."""

    split: str
    name: str
    path: Path
    count: int | None
    expected: int | None
    problem: str | None = None
    ignored: list[Path] = field(default_factory=list)


@dataclass
class LayoutReport:
    """Per-folder counts of a benchmark root (see :func:`scan_layout`)."""

    root: Path
    benchmark: str
    rows: list[FolderReport]

    @property
    def problems(self) -> list[str]:
        return [row.problem for row in self.rows if row.problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise :class:`DatasetLayoutError` listing every problem (each names its path)."""
        if self.problems:
            raise DatasetLayoutError(f"{len(self.problems)} problem(s) under {self.root} for benchmark "
                                     f"{self.benchmark!r}:\n- " + "\n- ".join(self.problems))

    def table(self) -> str:
        """A plain-text table: split, name, folder, count, expected count of the real set."""
        header = ("split", "name", "folder", "count", "expected", "status")
        lines = [header]
        for row in self.rows:
            status = "ok" if not row.problem else "ERROR"
            if not row.problem and row.expected is not None and row.count != row.expected:
                status = "ok (count differs)"
            if row.ignored:
                status += f"; {len(row.ignored)} non-image file(s) ignored"
            lines.append((row.split, row.name, str(row.path), "-" if row.count is None else str(row.count),
                          "-" if row.expected is None else str(row.expected), status))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def scan_folder(split_dir: Path, spec: FolderSpec, expected: int | None, check_images: bool = False,
                min_size: int | None = None, progress: bool = False) -> FolderReport:
    """Count the pairs of one task/test set; record (not raise) a layout problem."""
    folder = spec.clean_dir(split_dir) if spec.pairing == "clean_only" else split_dir / spec.folder
    row = FolderReport(split_dir.name, spec.name.partition("_")[0], folder, None, expected)
    try:
        pairs = list_pairs(split_dir, spec)
        row.count = len(pairs)
        if check_images or min_size is not None:
            files = [p for pair in pairs for p in pair if p is not None]
            check_image_files(dict.fromkeys(files), min_size, check_images, progress)
    except (DatasetLayoutError, ValueError) as err:  # ImageReadError is a ValueError
        row.problem = str(err)
    if folder.is_dir():
        row.ignored = non_image_files(folder, recursive=True)
    return row


@dataclass(frozen=True)
class BenchmarkSpec:
    """Which tasks, sources, oversampling factors and test sets make up a benchmark.

    Attributes
    ----------
    name : str
    tasks : tuple of str
        Keys of :data:`TASKS`; a task's position is its degradation label.
    sources : tuple of str
        Source (distribution ``P_k``) names; index = source id ``k``.
    task_source : dict
        Task -> source id. The 3-task benchmark maps the three noise levels to one source
        (one ``lambda_k`` and one potential ``f_k``) but keeps three labels (contrastive term).
    oversample : dict
        Task -> how many times each file is repeated per epoch (released code).
    test_sets : tuple of str
        Evaluation names, in the paper's table order; ``bsd68_<sigma>`` fixes the noise level.
    demo : bool
        Trains on a demo root (``baryir data demo``), whose manifest gives the file counts.
    """

    name: str
    tasks: tuple[str, ...]
    sources: tuple[str, ...]
    task_source: dict[str, int]
    oversample: dict[str, int]
    test_sets: tuple[str, ...]
    demo: bool = False

    @property
    def labels(self) -> dict[str, int]:
        """Task -> degradation label (its position in :attr:`tasks`)."""
        return {task: i for i, task in enumerate(self.tasks)}

    @property
    def n_sources(self) -> int:
        return len(self.sources)


_SOURCE_OF_KIND = {"noise": "noise", "rain": "rain", "haze": "haze", "blur": "blur", "lowlight": "lowlight"}


def _spec(name: str, oversample: dict[str, int], test_sets: tuple[str, ...], demo: bool = False) -> BenchmarkSpec:
    tasks = tuple(oversample)
    sources = tuple(dict.fromkeys(_SOURCE_OF_KIND[TASKS[t].kind] for t in tasks))
    task_source = {t: sources.index(_SOURCE_OF_KIND[TASKS[t].kind]) for t in tasks}
    return BenchmarkSpec(name, tasks, sources, task_source, dict(oversample), test_sets, demo)


#: The benchmarks: 3 tasks (paper Table 1), 5 tasks (Table 2), the shipped demo (seven tasks
#: of five degradations) and ``demo3``, the demo's 3-task subset (noise, rain, haze: the
#: setting of Table 1) on the same folders (the CPU-sized ablation trains on it).
BENCHMARKS: dict[str, BenchmarkSpec] = {
    "aio3": _spec("aio3", {"denoise_15": 5, "denoise_25": 5, "denoise_50": 5, "derain": 360, "dehaze": 1},
                  ("sots", "rain100l", "bsd68_15", "bsd68_25", "bsd68_50")),
    "aio5": _spec("aio5", {"denoise_25": 15, "derain": 360, "dehaze": 1, "deblur": 35, "lowlight": 150},
                  ("sots", "rain100l", "bsd68_25", "gopro", "lol")),
    "demo": _spec("demo", {"denoise_15": 1, "denoise_25": 1, "denoise_50": 1, "derain": 3, "dehaze": 1,
                           "deblur": 3, "lowlight": 3},
                  ("sots", "rain100l", "bsd68_15", "bsd68_25", "bsd68_50", "gopro", "lol"), demo=True),
    "demo3": _spec("demo3", {"denoise_15": 1, "denoise_25": 1, "denoise_50": 1, "derain": 3, "dehaze": 1},
                   ("sots", "rain100l", "bsd68_15", "bsd68_25", "bsd68_50"), demo=True),
}


def benchmark_spec(benchmark: str | BenchmarkSpec) -> BenchmarkSpec:
    """Look up a benchmark by name (``"aio3"``, ``"aio5"``, ``"demo"``, ``"demo3"``)."""
    if isinstance(benchmark, BenchmarkSpec):
        return benchmark
    if benchmark not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {benchmark!r}; use one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[benchmark]


def test_sets(benchmark: str | BenchmarkSpec) -> list[str]:
    """Evaluation names of a benchmark's test sets, e.g. ``["sots", "rain100l", "bsd68_25", ...]``."""
    return list(benchmark_spec(benchmark).test_sets)


test_sets.__test__ = False  # not a test, although pytest would collect the name when imported


def parse_test_set(name: str, sigma: float | None = None) -> tuple[FolderSpec, float | None]:
    """Split an evaluation name such as ``"bsd68_25"`` into its folder spec and noise level.

    ``sigma`` given explicitly wins over one in the name.
    """
    base, _, level = name.partition("_")
    if base not in TEST_SETS:
        raise ConfigError(f"unknown test set {name!r}; use one of {sorted(TEST_SETS)} "
                          "(noise levels as bsd68_<sigma>, e.g. bsd68_25)")
    if sigma is None and level:
        sigma = float(level)
    return TEST_SETS[base], sigma


#: File in a demo benchmark's root listing every pair it holds (written by ``baryir data demo``).
DEMO_MANIFEST = "demo_manifest.json"


def expected_counts(benchmark: str | BenchmarkSpec, root: str | Path | None = None) -> dict[tuple[str, str], int | None]:
    """``(split, name) -> expected pair/image count`` for the real sets or the demo.

    The real benchmarks have no fixed validation split, so no ``"val"`` keys for them.
    The demo's counts (``demo`` and ``demo3``) are those its manifest
    (:data:`DEMO_MANIFEST` in ``root``) lists; without a readable manifest nothing is
    expected of it.
    """
    spec = benchmark_spec(benchmark)
    if spec.demo:
        return _demo_manifest_counts(root)
    counts = {("train", t): TASKS[t].expected for t in spec.tasks}
    counts.update({("test", parse_test_set(t)[0].name): parse_test_set(t)[0].expected for t in spec.test_sets})
    return counts


def _demo_manifest_counts(root: str | Path | None) -> dict[tuple[str, str], int]:
    try:
        records = json.loads((Path(root) / DEMO_MANIFEST).read_text())["files"]
        return dict(Counter((r["split"], r["set"]) for r in records))
    except (TypeError, OSError, ValueError, KeyError):  # no root, no manifest, or an incomplete one
        return {}


def scan_layout(root: str | Path, benchmark: str | BenchmarkSpec = "aio3",
                splits: tuple[str, ...] = ("train", "test"), check_images: bool = False,
                min_size: int | None = None, progress: bool = False) -> LayoutReport:
    """Count every folder a benchmark needs under ``root``; collect problems without raising.

    Only a missing ``root`` raises :class:`DatasetLayoutError`.

    Parameters
    ----------
    root : str or Path
        The benchmark root (holding ``Train/``, ``Test/``, ``Val/``).
    benchmark : str or BenchmarkSpec
    splits : tuple of str
        Any of ``"train"``, ``"test"``, ``"val"`` (``Val/`` uses the ``Test/`` layout).
    check_images : bool
        Decode every image (slow on the real sets) to find unreadable files.
    min_size : int, optional
        Report training images smaller than this (the training patch size).
    progress : bool
        Show a tqdm bar while images are read.
    """
    spec = benchmark_spec(benchmark)
    if not Path(root).is_dir():
        raise DatasetLayoutError(f"{root}: benchmark root not found; it should hold Train/ and Test/ "
                                 "(see data/README.md), or build the demo with `baryir data demo OUT`")
    expected = expected_counts(spec, root)
    rows = []
    for split in splits:
        if split == "train":
            folders = {TASKS[t].folder: (t, TASKS[t]) for t in spec.tasks}  # noise levels share one
        else:
            folders = {s.folder: (s.name, s) for s in (parse_test_set(t)[0] for t in spec.test_sets)}
        for name, folder_spec in folders.values():
            count_key = (split, name)
            rows.append(scan_folder(split_root(root, split), folder_spec, expected.get(count_key),
                                    check_images, min_size if split == "train" else None, progress))
    return LayoutReport(Path(root), spec.name, rows)


def check_layout(root: str | Path, benchmark: str | BenchmarkSpec = "aio3",
                 splits: tuple[str, ...] = ("train", "test"), check_images: bool = False,
                 min_size: int | None = None) -> LayoutReport:
    """Like :func:`scan_layout`, but raise when anything is wrong; return the report otherwise.

    Raises
    ------
    DatasetLayoutError
        Listing every problem (each names its path and the expected layout).
    """
    report = scan_layout(root, benchmark, splits, check_images, min_size)
    report.raise_for_problems()
    return report
