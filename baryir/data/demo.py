"""A small demo benchmark in the real benchmarks' layout, built from shipped photographs.

The photographs are crops of public-domain, CC0 and CC BY images bundled with
scikit-image, scikit-learn and matplotlib (:data:`DEMO_PHOTOS` records each crop, its
credit and licence; ``data/LICENSES.md`` repeats them). They are shipped as 192 x 192
PNGs in ``data/images/<split>/`` and can be regenerated with :func:`export_demo_images`;
when the folder is absent (e.g. a pip install without the repository's ``data/``), the
crops are rendered from the bundled images on the fly, giving the same pixels
(scikit-learn is then needed for the two test photographs it ships).

:func:`build_demo_benchmark` writes ``Train/``, ``Val/`` and ``Test/`` exactly in the
layout of :mod:`baryir.data.layout`, synthesising every degradation with
:mod:`baryir.data.degradations` (seeded), so the real data loaders, ``baryir data check``
and training/evaluation run unchanged on it. Train, validation and test use different
photographs: 11 training crops of 7 images, 4 validation crops of 2 photographs, and 8
test crops of 4 photographs that nothing else uses. ``extra_train`` adds crops of
further photographs (a folder of your own, e.g. the Debian-packaged ones of the shipped
model's recipe, ``scripts/debian_photos.sh``) to the training split only.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from baryir.data.degradations import degrade, sample_parameters
from baryir.data.io import IMAGE_EXTENSIONS, is_image_file, read_image, write_image
from baryir.data.layout import DEMO_MANIFEST, TASKS, TEST_SETS, FolderSpec, split_root
from baryir.errors import DatasetLayoutError

#: Side (pixels) of the shipped square crops.
SHIPPED_SIDE = 192
#: Hazy variants written per clean training image (one per ``synthetic/part<v>`` folder).
HAZE_VARIANTS = 3
#: Folders the demo writes (noise levels share ``Train/Denoise``; noise is added at load time).
DEMO_TRAIN_FOLDERS = ("denoise_15", "derain", "dehaze", "deblur", "lowlight")
DEMO_TEST_SETS = ("bsd68", "rain100l", "sots", "gopro", "lol")
MANIFEST = DEMO_MANIFEST

_PD_NASA = "public domain (NASA), no known copyright restrictions"
_CC0 = "CC0 1.0"
_CC_BY_2 = "CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/)"


@dataclass(frozen=True)
class DemoPhoto:
    """One shipped crop: ``image[top:top+side, left:left+side]`` of a bundled image, resized.

    ``loader`` names the image as ``"<package>:<name>"``: ``skimage:<function of
    skimage.data>``, ``sklearn:<file for sklearn.datasets.load_sample_image>`` or
    ``matplotlib:<file of matplotlib's sample data>``. Grayscale images are repeated
    over the three channels.
    """

    split: str
    name: str
    loader: str
    box: tuple[int, int, int]
    credit: str
    licence: str


def _crops(split, name, loader, boxes, credit, licence):
    return tuple(DemoPhoto(split, f"{name}_{i + 1}", loader, box, credit, licence) for i, box in enumerate(boxes))


DEMO_PHOTOS: tuple[DemoPhoto, ...] = (
    *_crops("train", "astronaut", "skimage:astronaut", ((0, 0, 256), (0, 256, 256), (256, 0, 256), (256, 256, 256)),
            "NASA (Eileen Collins), via scikit-image", _PD_NASA),
    *_crops("train", "hubble", "skimage:hubble_deep_field", ((218, 250, 436),), "NASA/ESA Hubble, via scikit-image",
            _PD_NASA),
    *_crops("train", "retina", "skimage:retina", ((350, 350, 700),),
            "Mikael Haggstrom, via scikit-image / Wikimedia", _CC0),
    *_crops("train", "camera", "skimage:camera", ((0, 0, 256), (256, 256, 256)),
            "Lav Varshney, via scikit-image", _CC0),
    *_crops("train", "brick", "skimage:brick", ((0, 0, 512),), "CC0Textures, via scikit-image", _CC0),
    *_crops("train", "grass", "skimage:grass", ((0, 0, 512),), "linolafett (DeviantArt), via scikit-image", _CC0),
    *_crops("train", "gravel", "skimage:gravel", ((0, 0, 512),), "CC0Textures, via scikit-image", _CC0),
    *_crops("val", "rocket", "skimage:rocket", ((0, 160, 320), (107, 0, 320)), "SpaceX, via scikit-image",
            "public domain (released by SpaceX)"),
    *_crops("val", "hopper", "matplotlib:grace_hopper.jpg", ((0, 0, 512), (88, 0, 512)),
            "U.S. Navy (Grace Hopper), via matplotlib's sample data", "public domain (U.S. Navy photograph)"),
    *_crops("test", "chelsea", "skimage:chelsea", ((0, 0, 300), (0, 151, 300)), "Stefan van der Walt, via scikit-image",
            _CC0),
    *_crops("test", "coffee", "skimage:coffee", ((0, 0, 300), (100, 300, 300)), "Rachel Michetti, via scikit-image",
            _CC0),
    *_crops("test", "china", "sklearn:china.jpg", ((0, 0, 427), (0, 213, 427)),
            "danielbuechele (Flickr), via scikit-learn", _CC_BY_2),
    *_crops("test", "flower", "sklearn:flower.jpg", ((0, 0, 427), (0, 213, 427)),
            "vultilion (Flickr), via scikit-learn", _CC_BY_2),
)

SPLITS = ("train", "val", "test")


def images_dir() -> Path:
    """``data/images`` of the repository (may not exist in a pip install)."""
    return Path(__file__).resolve().parents[2] / "data" / "images"


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    if image.shape[:2] == (side, side):
        return image
    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.LANCZOS))


def load_bundled_image(loader: str) -> np.ndarray:
    """Load a bundled image named ``"<package>:<name>"`` (see :class:`DemoPhoto`): uint8 (H, W, 3)."""
    package, _, name = loader.partition(":")
    if package == "skimage":
        import skimage.data

        image = getattr(skimage.data, name)()
    elif package == "sklearn":
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            raise DatasetLayoutError(f"{loader} needs scikit-learn: pip install scikit-learn "
                                     f"(or use the repository's data/images)") from None
        image = load_sample_image(name)
    elif package == "matplotlib":
        import matplotlib.cbook

        image = np.asarray(Image.open(matplotlib.cbook.get_sample_data(name)).convert("RGB"))
    else:
        raise ValueError(f"unknown image source {loader!r}; use skimage:, sklearn: or matplotlib:")
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def render_photo(photo: DemoPhoto, side: int = SHIPPED_SIDE) -> np.ndarray:
    """Crop one :class:`DemoPhoto` from its bundled image and resize it: uint8 (side, side, 3)."""
    top, left, size = photo.box
    return _resize(np.ascontiguousarray(load_bundled_image(photo.loader)[top:top + size, left:left + size]), side)


def export_demo_images(out_dir: str | Path | None = None) -> list[Path]:
    """Regenerate the shipped crops as ``<out_dir>/<split>/<name>.png`` (default ``data/images``)."""
    out_dir = Path(out_dir) if out_dir is not None else images_dir()
    return [write_image(out_dir / p.split / f"{p.name}.png", render_photo(p)) for p in DEMO_PHOTOS]


def load_demo_images(split: str, size: int = SHIPPED_SIDE) -> list[tuple[str, np.ndarray]]:
    """The demo photographs of one split as ``(name, uint8 (size, size, 3))``, in table order.

    Reads ``data/images/<split>/<name>.png`` when present, else renders from skimage.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    if not 16 <= size <= SHIPPED_SIDE:
        raise ValueError(f"size must be between 16 and {SHIPPED_SIDE} (the shipped crops), got {size}")
    images = []
    for photo in (p for p in DEMO_PHOTOS if p.split == split):
        shipped = images_dir() / split / f"{photo.name}.png"
        image = read_image(shipped) if shipped.is_file() else render_photo(photo)
        images.append((photo.name, _resize(image, size)))
    return images


def load_extra_photos(folder: str | Path, size: int = SHIPPED_SIDE) -> list[tuple[str, np.ndarray]]:
    """Training crops of every photograph in ``folder`` (sorted by file name).

    Each photograph is resized (Lanczos) so that its short side is ``2 * size``; its
    central ``2 size x 2 size`` square is cut into 2 x 2 crops of ``size`` pixels, named
    ``<stem>_1`` ... ``<stem>_4`` (row by row).

    Returns
    -------
    list of (str, uint8 (size, size, 3))

    Raises
    ------
    DatasetLayoutError
        ``folder`` is not a folder, holds no image, or a name would repeat a shipped crop's.
    ImageReadError
        A photograph cannot be read.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p)) if folder.is_dir() else []
    if not files:
        raise DatasetLayoutError(f"{folder}: no photographs found ({', '.join(IMAGE_EXTENSIONS)}); "
                                 "give a folder of images for --extra-train")
    shipped = {p.name.rpartition("_")[0] for p in DEMO_PHOTOS}
    crops = []
    for path in files:
        if path.stem in shipped:
            raise DatasetLayoutError(f"{path}: the name {path.stem!r} is a shipped photograph's; rename the file")
        image = Image.fromarray(read_image(path))
        scale = 2 * size / min(image.size)
        image = image.resize((max(2 * size, round(image.width * scale)), max(2 * size, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
        left, top = (image.width - 2 * size) // 2, (image.height - 2 * size) // 2
        square = np.asarray(image)[top:top + 2 * size, left:left + 2 * size]
        crops += [(f"{path.stem}_{2 * i + j + 1}", np.ascontiguousarray(square[i * size:(i + 1) * size,
                                                                                j * size:(j + 1) * size]))
                  for i in range(2) for j in range(2)]
    return crops


def demo_counts() -> dict[tuple[str, str], int]:
    """``(split, name) -> pair/image count`` of a demo benchmark (see :func:`build_demo_benchmark`)."""
    n = {split: sum(p.split == split for p in DEMO_PHOTOS) for split in SPLITS}
    counts = {("train", t): n["train"] * (HAZE_VARIANTS if t == "dehaze" else 1) for t in TASKS}
    for split in ("val", "test"):
        counts.update({(split, t): n[split] for t in TEST_SETS})
    return counts


def _file_names(spec: FolderSpec, split: str, index: int, name: str,
                params: dict) -> tuple[str | None, str]:
    """Degraded and clean file names (relative to the spec's folders) of one demo pair."""
    if spec.pairing == "clean_only":
        return None, f"{name}.png"
    if spec.pairing == "rain":
        return f"rain-{index + 1}.png", f"norain-{index + 1}.png"
    if spec.pairing == "haze":
        image_id = f"{index + 1:04d}"
        hazy = f"{image_id}_{params['A']:.2f}_{params['beta']:.2f}.jpg"
        if split == "train":  # RESIDE OTS: synthetic/part<v>/<id>_<A>_<beta>.jpg + original/<id>.jpg
            return f"part{params['variant']}/{hazy}", f"{image_id}.jpg"
        return hazy, f"{image_id}.png"  # SOTS outdoor: input/<id>_<A>_<beta>.jpg + target/<id>.png
    return f"{name}.png", f"{name}.png"


def _write_folder(split: str, spec: FolderSpec, images, rng_key: list[int], out_dir: Path) -> list[dict]:
    """Write one task / test-set folder of the demo; return manifest records.

    Pair ``index`` (variant ``v``) draws from ``default_rng(rng_key + [index, v])``.
    """
    split_dir = split_root(out_dir, split)
    records = []
    variants = HAZE_VARIANTS if (spec.kind == "haze" and split == "train") else 1
    for index, (name, clean) in enumerate(images):
        for variant in range(1, variants + 1):
            rng = np.random.default_rng([*rng_key, index, variant])
            params = sample_parameters(spec.kind, rng)
            degraded_name, clean_name = _file_names(spec, split, index, name, {**params, "variant": variant})
            write_image(spec.clean_dir(split_dir) / clean_name, clean)
            if degraded_name is not None:
                write_image(spec.degraded_dir(split_dir) / degraded_name, degrade(clean, spec.kind, rng, **params))
            records.append({"split": split, "set": spec.name, "clean": clean_name, "degraded": degraded_name,
                            "source_photo": name, "parameters": params})
    return records


def build_demo_benchmark(out_dir: str | Path, seed: int = 0, size: int = 128,
                         progress: bool = False, extra_train: str | Path | None = None) -> Path:
    """Write the demo benchmark (``Train/``, ``Val/``, ``Test/`` and a manifest) to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Destination. Must be empty, absent, or an earlier (possibly interrupted) demo
        benchmark, whose ``Train/``, ``Val/`` and ``Test/`` are then replaced.
    seed : int
        Seed of every synthesised degradation (same seed -> identical files).
    size : int
        Side of the square images (16-192 pixels).
    progress : bool
        Show a tqdm bar over the folders.
    extra_train : str or Path, optional
        A folder of further photographs whose crops (:func:`load_extra_photos`) join the
        training split after the shipped ones; validation and test are unchanged.

    Returns
    -------
    Path
        ``out_dir``. Counts per folder: :func:`demo_counts` plus the extra crops (the
        manifest lists every file). Noisy inputs are not stored:
        denoising folders hold clean images, noise is added by the datasets (training: fresh
        per patch; test: fixed seed), as for the real BSD400/WED and CBSD68.
    """
    out_dir = Path(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MANIFEST).is_file():
            raise DatasetLayoutError(f"{out_dir}: folder is not empty and is not a demo benchmark "
                                     f"(no {MANIFEST}); choose an empty or new folder")
        for split in SPLITS:
            shutil.rmtree(split_root(out_dir, split), ignore_errors=True)
    jobs = [("train", TASKS[name]) for name in DEMO_TRAIN_FOLDERS]
    jobs += [(split, TEST_SETS[name]) for split in ("val", "test") for name in DEMO_TEST_SETS]
    images = {split: load_demo_images(split, size) for split in SPLITS}
    if extra_train is not None:
        images["train"] += load_extra_photos(extra_train, size)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).write_text(json.dumps({"seed": seed, "size": size, "complete": False}))
    records = []
    for job, (split, spec) in enumerate(tqdm(jobs, desc="demo benchmark", disable=not progress)):
        records += _write_folder(split, spec, images[split], [seed, job], out_dir)
    manifest = {"seed": seed, "size": size, "complete": True, "photos": [asdict(p) for p in DEMO_PHOTOS],
                "extra_train": None if extra_train is None else str(extra_train), "files": records}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return out_dir
