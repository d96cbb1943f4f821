"""Training and test datasets of the all-in-one benchmarks (aio3, aio5) and the demo.

Training (:class:`AllInOneTrainDataset`), as in the authors' released code
(``xl-tang3/BaryIR`` on GitHub):

1. every file of a task is repeated ``oversample[task]`` times per epoch (3-task: noise
   x5 per sigma, rain x360, haze x1; 5-task: noise x15, rain x360, haze x1, blur x35,
   low light x150), which roughly balances the sources;
2. a random ``patch_size`` crop at the same position in the degraded and the clean image;
3. one of the 8 flip/rotation modes (:func:`augment`), the same for both;
4. for denoising tasks, Gaussian noise added to the augmented clean patch (fresh for every
   sample, :func:`baryir.data.degradations.add_gaussian_noise`).

Optionally (``online``), other tasks are treated like denoising: their degraded file is
ignored and the degradation synthesised afresh on the augmented clean patch, with
parameters drawn by :func:`baryir.data.degradations.sample_parameters`. A training set
with one degraded version per photograph lets a network memorise those few pairs (on
the demo's 11 blurred crops, a model learns them and loses on unseen blurred photographs);
fresh draws show a new blur kernel, rain layer, haze or exposure every time.

Randomness is reproducible: sample ``i`` of epoch ``e`` draws from
``numpy.random.default_rng([seed, e, i])``, whatever the number of DataLoader workers;
call :meth:`AllInOneTrainDataset.set_epoch` at the start of each epoch for new draws.

Each sample carries a degradation ``label`` (position of its task; the three noise
levels of the 3-task benchmark are three labels) and a ``source`` index ``k`` (the
noise levels share one source: one ``lambda_k``, one potential ``f_k``).

Test and validation pairs (:class:`PairedTestDataset`) are matched by file name; noisy
test inputs are synthesised with a fixed seed per image.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from baryir.data.degradations import add_gaussian_noise, degrade, sample_parameters
from baryir.data.io import read_image, to_tensor
from baryir.data.layout import (
    BENCHMARKS,
    TASKS,
    TEST_SETS,
    BenchmarkSpec,
    benchmark_spec,
    list_pairs,
    parse_test_set,
    split_root,
    test_sets,
)
from baryir.errors import ConfigError, DatasetLayoutError

__all__ = [
    "AUGMENT_MODES",
    "AllInOneTrainDataset",
    "BENCHMARKS",
    "PairedTestDataset",
    "TASKS",
    "TEST_SETS",
    "augment",
    "benchmark_spec",
    "paired_random_crop",
    "source_weights",
    "test_sets",
]

#: Number of flip/rotation modes of :func:`augment` (the dihedral group of the square).
AUGMENT_MODES = 8
WEIGHT_CONVENTIONS = ("paper", "reference")


def augment(image: np.ndarray, mode: int) -> np.ndarray:
    """Apply flip/rotation ``mode`` in 0..7 to an (H, W, C) array.

    ``mode % 4`` counter-clockwise quarter turns, then a vertical flip when ``mode >= 4``.
    Mode 0 is the identity; the 8 modes are the 8 symmetries of the square.
    """
    if not 0 <= mode < AUGMENT_MODES:
        raise ValueError(f"augmentation mode must be in 0..7, got {mode}")
    out = np.rot90(image, k=mode % 4, axes=(0, 1))
    if mode >= 4:
        out = out[::-1]
    return np.ascontiguousarray(out)


def paired_random_crop(images: list[np.ndarray], patch_size: int, rng: np.random.Generator,
                       paths: list[Path] | None = None) -> list[np.ndarray]:
    """Crop the same ``patch_size`` square from each image (all of the same height and width).

    Raises
    ------
    DatasetLayoutError
        If the images' sizes differ or an image is smaller than the patch (naming the files).
    """
    shapes = {image.shape[:2] for image in images}
    names = ", ".join(str(p) for p in paths) if paths else "the images"
    if len(shapes) != 1:
        raise DatasetLayoutError(f"{names}: a degraded/clean pair must have the same size, got "
                                 f"{' vs '.join(f'{h}x{w}' for h, w in (i.shape[:2] for i in images))}")
    height, width = shapes.pop()
    if height < patch_size or width < patch_size:
        raise DatasetLayoutError(f"{names}: image is {height}x{width}, smaller than the "
                                 f"{patch_size}x{patch_size} training patch; use a smaller patch size "
                                 "or remove the image")
    top = int(rng.integers(height - patch_size + 1))
    left = int(rng.integers(width - patch_size + 1))
    return [image[top:top + patch_size, left:left + patch_size] for image in images]


def source_weights(counts, convention: str = "paper") -> torch.Tensor:
    """Barycenter weights ``lambda_k`` from per-source sample counts ``n_k``.

    - ``"paper"``: the portion of training samples of each source, ``n_k / sum_j n_j``
      (paper, below eq. 12);
    - ``"reference"``: inverse frequency, ``(1 / n_k) / sum_j (1 / n_j)`` (released code;
      with the oversampling the counts are nearly equal, so both are nearly uniform).

    Returns
    -------
    Tensor, float32, shape (K,), positive, summing to 1
    """
    counts = torch.as_tensor(list(counts), dtype=torch.float64)
    if counts.numel() == 0 or bool((counts <= 0).any()):
        raise ValueError(f"every source needs a positive sample count, got {counts.tolist()}")
    if convention == "paper":
        weights = counts
    elif convention == "reference":
        weights = 1.0 / counts
    else:
        raise ValueError(f"unknown weight convention {convention!r}; use one of {WEIGHT_CONVENTIONS}")
    return (weights / weights.sum()).float()


def _spawn_rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


class AllInOneTrainDataset(Dataset):
    """Mixed-degradation training patches of a benchmark root.

    Parameters
    ----------
    root : str or Path
        Benchmark root holding ``Train/`` (see :mod:`baryir.data.layout`); the demo
        benchmark works with every benchmark name.
    benchmark : str or BenchmarkSpec
        ``"aio3"``, ``"aio5"`` or ``"demo"``.
    patch_size : int
        Side of the square training patches.
    seed : int
        Seed of crops, augmentation modes and noise.
    oversample : dict, optional
        Task -> repetition factor, overriding the benchmark's factors for the tasks given.
    online : sequence of str, optional
        Tasks whose degradation is synthesised for every sample from the clean patch
        (see the module docstring) instead of read from the degraded file.

    Items are dicts ``{"degraded": float (3, P, P) in [0, 1], "clean": same, "source": int,
    "label": int, "task": str, "name": str}``.

    Raises
    ------
    DatasetLayoutError
        At construction, if a training folder is missing, empty or unpaired; when an item
        is loaded, if its images differ in size or are smaller than the patch.
    ImageReadError
        When an item's file cannot be read.
    """

    def __init__(self, root: str | Path, benchmark: str | BenchmarkSpec, patch_size: int,
                 seed: int = 0, oversample: dict[str, int] | None = None, online=()):
        self.spec = benchmark_spec(benchmark)
        self.root = Path(root)
        if patch_size < 1:
            raise ConfigError(f"patch_size must be positive, got {patch_size}")
        self.patch_size = int(patch_size)
        self.seed = int(seed)
        self.epoch = 0
        unknown = set(oversample or {}) - set(self.spec.tasks)
        if unknown:
            raise ConfigError(f"oversample names tasks {sorted(unknown)} that are not in benchmark "
                              f"{self.spec.name!r} (tasks: {list(self.spec.tasks)})")
        self.oversample = {**self.spec.oversample, **(oversample or {})}
        self.online = frozenset(online)
        unknown = self.online - set(self.spec.tasks)
        if unknown:
            raise ConfigError(f"data.online names tasks {sorted(unknown)} that are not in benchmark "
                              f"{self.spec.name!r} (tasks: {list(self.spec.tasks)})")
        if any(int(f) < 1 for f in self.oversample.values()):
            raise ConfigError(f"oversampling factors must be >= 1, got {self.oversample}")
        train_dir = split_root(self.root, "train")
        self.pairs = {task: list_pairs(train_dir, TASKS[task]) for task in self.spec.tasks}
        task_index, pair_index = [], []
        for t, task in enumerate(self.spec.tasks):
            n_pairs = len(self.pairs[task])
            task_index.append(np.full(n_pairs * self.oversample[task], t, dtype=np.int64))
            pair_index.append(np.tile(np.arange(n_pairs, dtype=np.int64), self.oversample[task]))
        self._task_index = np.concatenate(task_index)
        self._pair_index = np.concatenate(pair_index)

    @property
    def n_sources(self) -> int:
        """Number of sources K (degradation distributions P_k)."""
        return self.spec.n_sources

    @property
    def n_labels(self) -> int:
        """Number of degradation labels (tasks)."""
        return len(self.spec.tasks)

    def task_counts(self) -> dict[str, int]:
        """Samples per task in one epoch (files x oversampling)."""
        return {task: len(self.pairs[task]) * self.oversample[task] for task in self.spec.tasks}

    def source_counts(self) -> list[int]:
        """Samples per source in one epoch, ``n_k`` (index = source id)."""
        counts = [0] * self.n_sources
        for task, count in self.task_counts().items():
            counts[self.spec.task_source[task]] += count
        return counts

    def source_weights(self, convention: str = "paper") -> torch.Tensor:
        """``lambda_k`` from :meth:`source_counts` (see :func:`source_weights`), shape (K,)."""
        return source_weights(self.source_counts(), convention)

    def task_indices(self, task: str) -> np.ndarray:
        """Sample indices of one task (each file appears ``oversample[task]`` times)."""
        if task not in self.spec.tasks:
            raise ValueError(f"task {task!r} is not in benchmark {self.spec.name!r} ({list(self.spec.tasks)})")
        return np.flatnonzero(self._task_index == self.spec.tasks.index(task))

    def sample_paths(self, index: int) -> tuple[str, Path | None, Path]:
        """``(task, degraded path or None, clean path)`` of sample ``index``."""
        task = self.spec.tasks[self._task_index[index]]
        return (task, *self.pairs[task][self._pair_index[index]])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crops, modes and noise are drawn (like DistributedSampler).

        DataLoader workers hold copies of the dataset: create the loader after this call
        (or avoid ``persistent_workers=True``), otherwise the workers keep the old epoch.
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._task_index)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        task, degraded_path, clean_path = self.sample_paths(index)
        rng = _spawn_rng(self.seed, self.epoch, index)
        if degraded_path is None or task in self.online:  # degraded after crop and augmentation
            (clean,) = paired_random_crop([read_image(clean_path)], self.patch_size, rng, [clean_path])
            clean = augment(clean, int(rng.integers(AUGMENT_MODES)))
            if degraded_path is None:  # denoising
                degraded = add_gaussian_noise(clean, _task_sigma(task), rng)
            else:
                kind = TASKS[task].kind
                degraded = degrade(clean, kind, rng, **sample_parameters(kind, rng))
        else:
            degraded, clean = paired_random_crop([read_image(degraded_path), read_image(clean_path)],
                                                 self.patch_size, rng, [degraded_path, clean_path])
            mode = int(rng.integers(AUGMENT_MODES))
            degraded, clean = augment(degraded, mode), augment(clean, mode)
        return {
            "degraded": to_tensor(degraded),
            "clean": to_tensor(clean),
            "source": self.spec.task_source[task],
            "label": self.spec.labels[task],
            "task": task,
            "name": (degraded_path or clean_path).name,
        }


def _task_sigma(task: str) -> float:
    """Noise level of a ``denoise_<sigma>`` task."""
    return float(task.rpartition("_")[2])


class PairedTestDataset(Dataset):
    """Full-size (degraded, clean) pairs of a test or validation set, matched by file name.

    Parameters
    ----------
    root : str or Path
        Benchmark root.
    test_set : str
        A key of :data:`TEST_SETS` (``"sots"``, ``"rain100l"``, ``"rain100h"``, ``"bsd68"``,
        ``"gopro"``, ``"lol"``) or an evaluation name with a noise level (``"bsd68_25"``).
    sigma : float, optional
        Noise level: required for ``bsd68`` (unless in the name); for the other sets,
        extra noise added to the degraded input (mixed-degradation tests).
    seed : int
        Noise seed; image ``name`` draws from ``default_rng([seed, round(100 * sigma),
        crc32(name)])``, so the noisy input does not depend on listing order.
    split : {"test", "val"}
        ``Test/`` or the validation split ``Val/`` (same layout).

    Items are dicts ``{"degraded": float (3, H, W), "clean": float (3, H, W), "name": str}``
    (full images: batch with ``batch_size=1`` or pad/crop yourself).
    """

    def __init__(self, root: str | Path, test_set: str, sigma: float | None = None, seed: int = 0,
                 split: str = "test"):
        self.spec, self.sigma = parse_test_set(test_set, sigma)
        if split not in ("test", "val"):
            raise ConfigError(f"split must be 'test' or 'val', got {split!r}")
        if self.spec.pairing == "clean_only" and self.sigma is None:
            raise ConfigError(f"test set {test_set!r} needs a noise level: pass sigma=... or use "
                              f"'{self.spec.name}_<sigma>', e.g. '{self.spec.name}_25'")
        self.name = test_set
        self.seed = int(seed)
        self.root = Path(root)
        self.pairs = list_pairs(split_root(self.root, split), self.spec)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        degraded_path, clean_path = self.pairs[index]
        clean = read_image(clean_path)
        name = (degraded_path or clean_path).stem
        degraded = clean if degraded_path is None else read_image(degraded_path)
        if degraded.shape != clean.shape:
            raise DatasetLayoutError(f"{degraded_path}, {clean_path}: a degraded/clean pair must have the "
                                     f"same size, got {degraded.shape[:2]} vs {clean.shape[:2]}")
        if self.sigma is not None:
            rng = _spawn_rng(self.seed, round(100 * self.sigma), zlib.crc32(name.encode()))
            degraded = add_gaussian_noise(degraded, self.sigma, rng)
        return {"degraded": to_tensor(degraded), "clean": to_tensor(clean), "name": name}
