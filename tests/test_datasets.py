"""Demo benchmark, layout checks and datasets (baryir.data.demo / layout / datasets / cli)."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from baryir.cli import main
from baryir.data.datasets import (
    AUGMENT_MODES,
    AllInOneTrainDataset,
    PairedTestDataset,
    augment,
    paired_random_crop,
    source_weights,
)
from baryir.data.degradations import add_gaussian_noise, degrade, sample_parameters
from baryir.data.demo import (
    DEMO_PHOTOS,
    HAZE_VARIANTS,
    build_demo_benchmark,
    demo_counts,
    images_dir,
    load_extra_photos,
    render_photo,
)
from baryir.data.io import read_image, write_image
from baryir.data.layout import BENCHMARKS, TASKS, TEST_SETS, check_layout, list_pairs, scan_layout, test_sets
from baryir.errors import ConfigError, DatasetLayoutError, ImageReadError

PATCH = 32
N_TRAIN = sum(p.split == "train" for p in DEMO_PHOTOS)
N_TEST = sum(p.split == "test" for p in DEMO_PHOTOS)
#: A training photograph's file name, as the demo writes it into the paired task folders.
TRAIN_FILE = next(f"{p.name}.png" for p in DEMO_PHOTOS if p.split == "train")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return build_demo_benchmark(tmp_path_factory.mktemp("demo") / "bench", seed=0, size=64)


@pytest.fixture
def demo_copy(demo_root, tmp_path):
    """A private copy of the demo benchmark that a test may break."""
    return shutil.copytree(demo_root, tmp_path / "bench")


# ---------------------------------------------------------------- demo benchmark


def test_demo_layout_counts_and_names(demo_root):
    report = check_layout(demo_root, "demo", splits=("train", "val", "test"), check_images=True, min_size=PATCH)
    assert report.ok
    counts = {(row.split.lower(), row.name): row.count for row in report.rows}
    assert counts[("train", "dehaze")] == HAZE_VARIANTS * N_TRAIN
    assert all(counts[key] == demo_counts()[key if key[1] != "denoise" else ("train", "denoise_15")]
               for key in counts)
    rainy = sorted(p.name for p in (demo_root / "Train/Derain/rainy").iterdir())
    assert rainy[0] == "rain-1.png" and (demo_root / "Train/Derain/gt/norain-1.png").is_file()
    parts = sorted(p.name for p in (demo_root / "Train/Dehaze/synthetic").iterdir())
    assert parts == [f"part{v}" for v in range(1, HAZE_VARIANTS + 1)]
    hazy = next((demo_root / "Train/Dehaze/synthetic/part1").iterdir())
    image_id, a, beta = hazy.stem.split("_")
    assert hazy.suffix == ".jpg" and 0.7 <= float(a) <= 1.0 and 0.6 <= float(beta) <= 1.8
    assert (demo_root / "Train/Dehaze/original" / f"{image_id}.jpg").is_file()
    assert (demo_root / "Test/dehaze/target/0001.png").is_file()


def test_demo_is_deterministic_and_splits_are_disjoint(demo_root, tmp_path):
    again = build_demo_benchmark(tmp_path / "again", seed=0, size=64)
    for rel in ["Train/Derain/rainy/rain-2.png", "Test/lowlight/LOL/input/chelsea_1.png"]:
        assert np.array_equal(read_image(demo_root / rel), read_image(again / rel))
    other = build_demo_benchmark(tmp_path / "other", seed=1, size=64)
    rel = "Train/Derain/rainy/rain-2.png"
    assert not np.array_equal(read_image(demo_root / rel), read_image(other / rel))
    names = {split: {p.stem for p in (demo_root / split / "denoise/bsd68").iterdir()} for split in ("Val", "Test")}
    train = {p.stem for p in (demo_root / "Train/Denoise").iterdir()}
    assert names["Val"].isdisjoint(names["Test"]) and train.isdisjoint(names["Val"] | names["Test"])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_demo_pair_is_degraded(tmp_path, seed):
    """No degraded demo image equals its clean partner (sampled parameters once rounded a
    rain density of 0.002-0.005 to 0, leaving rain-free "rainy" images)."""
    root = build_demo_benchmark(tmp_path / "bench", seed=seed, size=48)
    checked = 0
    for split, specs in (("Train", [TASKS[name] for name in ("derain", "dehaze", "deblur", "lowlight")]),
                         ("Test", [TEST_SETS[name] for name in ("rain100l", "sots", "gopro", "lol")]),
                         ("Val", [TEST_SETS[name] for name in ("rain100l", "sots", "gopro", "lol")])):
        for spec in specs:
            for degraded, clean in list_pairs(root / split, spec):
                difference = np.abs(read_image(degraded).astype(float) - read_image(clean).astype(float))
                assert difference.max() >= 10, (split, spec.name, degraded.name)  # 0 when rain-free
                checked += 1
    assert checked >= 40


def test_shipped_images_match_their_recorded_provenance():
    files = sorted(images_dir().rglob("*.png"))
    assert len(files) == len(DEMO_PHOTOS)
    assert sum(f.stat().st_size for f in images_dir().rglob("*")) < 1_500_000
    for photo in DEMO_PHOTOS[::3]:
        shipped = read_image(images_dir() / photo.split / f"{photo.name}.png")
        assert np.abs(shipped.astype(int) - render_photo(photo)).mean() < 1.0


def test_demo_refuses_a_foreign_non_empty_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DatasetLayoutError, match="not a demo benchmark"):
        build_demo_benchmark(tmp_path, size=32)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_extra_photographs_join_the_training_split_only(demo_root, tmp_path):
    """Each extra photograph gives four crops of its central square to every training
    folder; validation and test files stay byte-identical; the layout check counts them."""
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    write_image(photos / "wide.jpg", rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    tall = np.zeros((200, 128, 3), dtype=np.uint8)
    tall[36:100, :64] = 255  # the top-left quarter of the central 128 px square
    write_image(photos / "tall.png", tall)
    (photos / "notes.txt").write_text("not an image")
    crops = load_extra_photos(photos, size=32)
    assert [name for name, _ in crops] == ["tall_1", "tall_2", "tall_3", "tall_4", "wide_1", "wide_2", "wide_3",
                                           "wide_4"]
    assert all(image.shape == (32, 32, 3) and image.dtype == np.uint8 for _, image in crops)
    assert crops[0][1].mean() > 250 and crops[1][1].mean() < 5  # tall_1 white, tall_2 black (Lanczos rings a little)
    root = build_demo_benchmark(tmp_path / "bench", seed=0, size=64, extra_train=photos)
    report = check_layout(root, "demo", splits=("train", "val", "test"))
    assert report.ok
    counts = {(row.split.lower(), row.name): row.count for row in report.rows}
    assert counts[("train", "deblur")] == N_TRAIN + 8 and counts[("train", "dehaze")] == HAZE_VARIANTS * (N_TRAIN + 8)
    assert (root / "Train/Deblur/blur/wide_3.png").is_file() and (root / "Train/Denoise/tall_4.png").is_file()
    for rel in ["Test/lowlight/LOL/input/chelsea_1.png", "Val/derain/Rain100L/input/rain-2.png",
                f"Train/Deblur/blur/{TRAIN_FILE}"]:
        assert (root / rel).read_bytes() == (demo_root / rel).read_bytes()


def test_extra_photographs_bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(DatasetLayoutError, match="no photographs found"):
            load_extra_photos(folder)
    clash = tmp_path / "clash"
    write_image(clash / f"{DEMO_PHOTOS[0].name.rpartition('_')[0]}.png", np.zeros((40, 40, 3), dtype=np.uint8))
    with pytest.raises(DatasetLayoutError, match="rename the file"):
        load_extra_photos(clash, size=16)
    with pytest.raises(SystemExit):  # argparse: --extra-train needs a folder
        main(["data", "demo", str(tmp_path / "out"), "--extra-train"])


# ---------------------------------------------------------------- training dataset


def test_train_dataset_counts_labels_sources(demo_root):
    data = AllInOneTrainDataset(demo_root, "demo", PATCH)
    spec = BENCHMARKS["demo"]
    expected = {t: demo_counts()[("train", t)] * spec.oversample[t] for t in spec.tasks}
    assert data.task_counts() == expected and len(data) == sum(expected.values())
    assert data.n_sources == 5 and data.n_labels == 7
    seen = {}
    for i in range(0, len(data), 3):
        item = data[i]
        assert item["degraded"].shape == item["clean"].shape == (3, PATCH, PATCH)
        assert item["degraded"].dtype == torch.float32
        assert 0.0 <= float(item["degraded"].min()) and float(item["degraded"].max()) <= 1.0
        seen[item["task"]] = (item["label"], item["source"])
    assert seen == {t: (spec.labels[t], spec.task_source[t]) for t in spec.tasks}
    assert {seen[t][1] for t in ("denoise_15", "denoise_25", "denoise_50")} == {0}  # one noise source
    assert len({seen[t][0] for t in ("denoise_15", "denoise_25", "denoise_50")}) == 3  # three labels


@pytest.mark.parametrize("benchmark, n_sources, n_labels", [("aio3", 3, 5), ("aio5", 5, 5)])
def test_real_benchmark_specs_on_the_demo_root(demo_root, benchmark, n_sources, n_labels):
    data = AllInOneTrainDataset(demo_root, benchmark, PATCH)
    assert (data.n_sources, data.n_labels) == (n_sources, n_labels)
    factors = {"aio3": {"denoise_15": 5, "derain": 360, "dehaze": 1},
               "aio5": {"denoise_25": 15, "derain": 360, "deblur": 35, "lowlight": 150}}[benchmark]
    for task, factor in factors.items():
        assert data.task_counts()[task] == factor * demo_counts()[("train", task)]


def test_oversampling_override_and_source_weights(demo_root):
    data = AllInOneTrainDataset(demo_root, "aio3", PATCH, oversample={"derain": 1, "denoise_15": 2})
    n = N_TRAIN
    counts = [n * (2 + 5 + 5), n * 1, n * HAZE_VARIANTS]
    assert data.source_counts() == counts
    paper = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    inverse = 1 / torch.tensor(counts, dtype=torch.float64)
    assert torch.allclose(data.source_weights("paper"), paper.float())
    assert torch.allclose(data.source_weights("reference"), (inverse / inverse.sum()).float())
    with pytest.raises(ConfigError, match="deblur"):
        AllInOneTrainDataset(demo_root, "aio3", PATCH, oversample={"deblur": 2})
    with pytest.raises(ValueError):
        source_weights([3, 0])


def test_items_reproduce_crop_augmentation_then_noise(demo_root):
    data = AllInOneTrainDataset(demo_root, "demo", PATCH, seed=5)
    data.set_epoch(2)
    for task in ("denoise_50", "derain"):
        index = int(data.task_indices(task)[0])
        item = data[index]
        assert data.sample_paths(index)[0] == task
        _, degraded_path, clean_path = data.sample_paths(index)
        rng = np.random.default_rng([5, 2, index])
        if degraded_path is None:
            (clean,) = paired_random_crop([read_image(clean_path)], PATCH, rng)
            clean = augment(clean, int(rng.integers(AUGMENT_MODES)))
            degraded = add_gaussian_noise(clean, 50, rng)
        else:
            degraded, clean = paired_random_crop([read_image(degraded_path), read_image(clean_path)], PATCH, rng)
            mode = int(rng.integers(AUGMENT_MODES))
            degraded, clean = augment(degraded, mode), augment(clean, mode)
        assert torch.equal(item["clean"], torch.from_numpy(clean.transpose(2, 0, 1) / 255.0).float())
        assert torch.equal(item["degraded"], torch.from_numpy(degraded.transpose(2, 0, 1) / 255.0).float())


def test_online_tasks_synthesise_their_degradation_on_the_clean_patch(demo_root):
    data = AllInOneTrainDataset(demo_root, "demo", PATCH, seed=5, online=["deblur", "dehaze"])
    data.set_epoch(1)
    for task, kind in (("deblur", "blur"), ("dehaze", "haze")):
        index = int(data.task_indices(task)[0])
        _, degraded_path, clean_path = data.sample_paths(index)
        assert degraded_path is not None  # the file exists but is not read
        rng = np.random.default_rng([5, 1, index])
        (clean,) = paired_random_crop([read_image(clean_path)], PATCH, rng)
        clean = augment(clean, int(rng.integers(AUGMENT_MODES)))
        degraded = degrade(clean, kind, rng, **sample_parameters(kind, rng))
        item = data[index]
        assert torch.equal(item["clean"], torch.from_numpy(clean.transpose(2, 0, 1) / 255.0).float())
        assert torch.equal(item["degraded"], torch.from_numpy(degraded.transpose(2, 0, 1) / 255.0).float())
        data.set_epoch(2)
        assert not torch.equal(data[index]["degraded"], item["degraded"])  # a new draw every epoch
        data.set_epoch(1)
    fixed = AllInOneTrainDataset(demo_root, "demo", PATCH, seed=5)
    fixed.set_epoch(1)
    index = int(data.task_indices("derain")[0])
    assert torch.equal(fixed[index]["degraded"], data[index]["degraded"])  # other tasks read their files
    with pytest.raises(ConfigError, match="data.online names tasks"):
        AllInOneTrainDataset(demo_root, "demo", PATCH, online=["deblurr"])


def test_noise_is_fresh_per_sample_and_epoch_but_seeded(demo_root):
    data = AllInOneTrainDataset(demo_root, "demo", PATCH, seed=1, oversample={"denoise_25": 2})
    first = data.task_indices("denoise_25")
    assert len(first) == 2 * N_TRAIN
    assert data.sample_paths(first[0]) == data.sample_paths(first[N_TRAIN])
    a, b = data[first[0]], data[first[N_TRAIN]]  # the same image, two oversampled copies
    assert not torch.equal(a["degraded"], b["degraded"])
    assert torch.equal(data[first[0]]["degraded"], a["degraded"])
    residual = (a["degraded"] - a["clean"]) * 255
    inside = (a["degraded"] > 0) & (a["degraded"] < 1)
    assert abs(float(residual[inside].std()) - 25) < 4
    data.set_epoch(1)
    assert not torch.equal(data[first[0]]["degraded"], a["degraded"])


def test_all_eight_augmentation_modes():
    square = np.random.default_rng(0).integers(0, 256, size=(5, 5, 3), dtype=np.uint8)
    outputs = [augment(square, m) for m in range(AUGMENT_MODES)]
    assert np.array_equal(outputs[0], square)
    assert len({o.tobytes() for o in outputs}) == 8
    assert all(sorted(o.ravel()) == sorted(square.ravel()) for o in outputs)
    assert augment(np.zeros((4, 6, 3)), 1).shape == (6, 4, 3)
    with pytest.raises(ValueError):
        augment(square, 8)


def test_dataloader_batches(demo_root):
    batch = next(iter(DataLoader(AllInOneTrainDataset(demo_root, "aio5", PATCH), batch_size=4, shuffle=True,
                                 generator=torch.Generator().manual_seed(0))))
    assert batch["degraded"].shape == (4, 3, PATCH, PATCH)
    assert batch["source"].dtype == torch.int64 and batch["label"].shape == (4,)


# ---------------------------------------------------------------- test / validation dataset


def test_test_sets_match_by_name_and_fix_the_noise(demo_root):
    assert test_sets("aio3") == ["sots", "rain100l", "bsd68_15", "bsd68_25", "bsd68_50"]
    for name in test_sets("demo"):
        data = PairedTestDataset(demo_root, name)
        assert len(data) == N_TEST
        item = data[0]
        assert item["degraded"].shape == item["clean"].shape == (3, 64, 64)
    rain = PairedTestDataset(demo_root, "rain100l")
    assert all(c.stem == "norain-" + d.stem[len("rain-"):] for d, c in rain.pairs)
    noisy = PairedTestDataset(demo_root, "bsd68_25")
    assert torch.equal(noisy[1]["degraded"], PairedTestDataset(demo_root, "bsd68", sigma=25)[1]["degraded"])
    assert not torch.equal(noisy[1]["degraded"], PairedTestDataset(demo_root, "bsd68_25", seed=1)[1]["degraded"])
    residual = (noisy[0]["degraded"] - noisy[0]["clean"]) * 255
    assert 20 < float(residual.std()) < 27
    with pytest.raises(ConfigError, match="noise level"):
        PairedTestDataset(demo_root, "bsd68")
    with pytest.raises(ConfigError, match="unknown test set"):
        PairedTestDataset(demo_root, "kodak24")


def test_validation_split_is_separate(demo_root):
    val = PairedTestDataset(demo_root, "gopro", split="val")
    test = PairedTestDataset(demo_root, "gopro")
    assert {i["name"] for i in val}.isdisjoint({i["name"] for i in test})


def test_lower_case_split_folders_are_accepted(demo_copy):
    (demo_copy / "Test").rename(demo_copy / "test")
    assert len(PairedTestDataset(demo_copy, "rain100l")) == N_TEST
    assert check_layout(demo_copy, "aio3").ok


def test_haze_pairs_follow_names_not_sort_order(demo_copy):
    target = demo_copy / "Test/dehaze/target"
    for path in (demo_copy / "Test/dehaze/input").iterdir():
        if path.name.startswith("0001_"):
            path.unlink()
    pairs = PairedTestDataset(demo_copy, "sots").pairs
    assert len(pairs) == N_TEST - 1 and pairs[0][1] == target / "0002.png"  # sort order would give 0001.png


# ---------------------------------------------------------------- bad layouts and bad images


def _break(root, case):
    if case == "missing_folder":
        shutil.rmtree(root / "Train/Deblur/sharp")
        return "Deblur/sharp", "folder not found"
    if case == "empty_folder":
        for path in (root / "Train/Denoise").iterdir():
            path.unlink()
        return "Train/Denoise", "no images"
    if case == "unpaired_degraded":
        (root / "Train/Derain/gt/norain-2.png").unlink()
        return "Derain/rainy", "rain-2.png"
    if case == "unpaired_clean":
        (root / f"Train/lowlight/low/{TRAIN_FILE}").unlink()
        return "lowlight/high", TRAIN_FILE
    if case == "duplicate_clean":
        shutil.copy(root / "Train/Dehaze/original/0001.jpg", root / "Train/Dehaze/original/0001.png")
        return "0001", "share the name"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing_folder", "empty_folder", "unpaired_degraded", "unpaired_clean",
                                  "duplicate_clean"])
def test_bad_layouts_name_the_path_and_the_expected_layout(demo_copy, case):
    path_part, problem = _break(demo_copy, case)
    with pytest.raises(DatasetLayoutError) as info:
        AllInOneTrainDataset(demo_copy, "aio5", PATCH)
    message = str(info.value)
    assert path_part in message and problem in message and "Expected layout" in message
    report = scan_layout(demo_copy, "aio5")
    assert len(report.problems) == 1 and "ERROR" in report.table()
    with pytest.raises(DatasetLayoutError, match="1 problem"):
        check_layout(demo_copy, "aio5")


def test_missing_root_and_unknown_benchmark(tmp_path):
    with pytest.raises(DatasetLayoutError, match="benchmark root not found"):
        scan_layout(tmp_path / "nowhere", "aio3")
    with pytest.raises(ConfigError, match="unknown benchmark"):
        AllInOneTrainDataset(tmp_path, "aio4", PATCH)


@pytest.mark.parametrize("case", ["truncated", "zero_byte"])
def test_unreadable_training_image(demo_copy, case):
    path = demo_copy / f"Train/Deblur/blur/{TRAIN_FILE}"
    path.write_bytes(path.read_bytes()[:100] if case == "truncated" else b"")
    data = AllInOneTrainDataset(demo_copy, "aio5", PATCH, oversample={"deblur": 1})
    index = next(i for i in data.task_indices("deblur") if data.sample_paths(i)[1] == path)
    with pytest.raises(ImageReadError, match=TRAIN_FILE):
        data[index]
    report = scan_layout(demo_copy, "aio5", check_images=True)
    assert any(TRAIN_FILE in p for p in report.problems)


def test_wrong_extension_is_ignored_but_reported(demo_copy):
    (demo_copy / "Train/Deblur/blur/notes.gif").write_bytes(b"GIF89a")
    assert len(list_pairs(demo_copy / "Train", TASKS["deblur"])) == N_TRAIN
    row = next(r for r in scan_layout(demo_copy, "aio5").rows if r.name == "deblur")
    assert row.ignored and "non-image" in scan_layout(demo_copy, "aio5").table()


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_grayscale_rgba_and_16bit_training_images_load_as_rgb(demo_copy, mode):
    folder = demo_copy / "Train/Denoise"
    for path in folder.iterdir():
        path.unlink()
    rgb = np.random.default_rng(0).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    if mode == "L":
        Image.fromarray(rgb[:, :, 0]).save(folder / "g.png")
    elif mode == "RGBA":
        Image.fromarray(np.concatenate([rgb, np.zeros((40, 40, 1), np.uint8)], 2), mode="RGBA").save(folder / "g.png")
    else:
        Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(folder / "g.png")
    item = AllInOneTrainDataset(demo_copy, "demo", PATCH)[0]
    assert item["task"] == "denoise_15" and item["clean"].shape == (3, PATCH, PATCH)
    if mode != "RGBA":
        assert torch.equal(item["clean"][0], item["clean"][2])


def test_small_or_mismatched_images_give_clear_errors(demo_copy):
    write_image(demo_copy / f"Train/Deblur/blur/{TRAIN_FILE}", np.zeros((20, 64, 3), np.uint8))
    data = AllInOneTrainDataset(demo_copy, "aio5", PATCH, oversample={"deblur": 1})
    index = next(i for i in data.task_indices("deblur") if data.sample_paths(i)[1].name == TRAIN_FILE)
    with pytest.raises(DatasetLayoutError, match="same size"):
        data[index]
    write_image(demo_copy / f"Train/Deblur/sharp/{TRAIN_FILE}", np.zeros((20, 64, 3), np.uint8))
    with pytest.raises(DatasetLayoutError, match="smaller than the 32x32 training patch"):
        data[index]
    report = scan_layout(demo_copy, "aio5", min_size=PATCH)
    assert any("smaller than" in p for p in report.problems)


# ---------------------------------------------------------------- command line


def test_cli_check_and_demo(demo_root, tmp_path, capsys):
    assert main(["data", "check", str(demo_root), "--benchmark", "demo", "--splits", "train,val,test"]) == 0
    out = capsys.readouterr().out
    assert "layout ok" in out and "Val" in out and "dehaze" in out
    assert main(["data", "check", str(demo_root), "--benchmark", "aio3"]) == 0
    assert "72135" in capsys.readouterr().out  # expected counts of the real sets
    assert main(["data", "demo", str(tmp_path / "d"), "--size", "32"]) == 0
    shutil.rmtree(tmp_path / "d" / "Test/lowlight")
    assert main(["data", "check", str(tmp_path / "d"), "--benchmark", "aio5"]) == 2
    assert "lowlight/LOL" in capsys.readouterr().err
