"""Training configs: YAML files, dotted overrides and strict validation."""

from pathlib import Path

import pytest

from baryir.config import TrainConfig, apply_overrides, config_to_dict, load_config, save_config
from baryir.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["aio3", "aio5", "demo"])
def test_shipped_configs_load(name):
    config = load_config(CONFIGS / f"{name}.yaml")
    assert isinstance(config, TrainConfig)
    assert config.data.benchmark == name


def test_reference_schedule_in_paper_configs():
    aio3, aio5 = load_config(CONFIGS / "aio3.yaml"), load_config(CONFIGS / "aio5.yaml")
    for config in (aio3, aio5):
        assert config.optim.name == "rmsprop" and config.optim.lr == pytest.approx(1e-4)
        assert config.optim.l1_weight == 10000 and config.cost.gamma == pytest.approx(0.05)
        assert config.loop.batch_size == 3 and config.data.patch_size == 128
    assert (aio3.loop.epochs, aio3.optim.decay_every) == (56, 50)
    assert (aio5.loop.epochs, aio5.optim.decay_every) == (57, 31)


def test_overrides_parse_values_and_reach_nested_keys():
    config = load_config(CONFIGS / "demo.yaml", ["optim.lr=3e-4", "loop.steps=7", "model.overrides.dim=16",
                                                 "loop.keep_best=false"])
    assert config.optim.lr == pytest.approx(3e-4) and isinstance(config.optim.lr, float)
    assert config.loop.steps == 7 and config.loop.keep_best is False
    assert config.model.overrides == {"dim": 16}


def test_round_trip_through_yaml(tmp_path):
    config = load_config(CONFIGS / "aio3.yaml", ["loop.seed=5"])
    save_config(config, tmp_path / "c.yaml")
    assert config_to_dict(load_config(tmp_path / "c.yaml")) == config_to_dict(config)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optim.learning_rate=1"], "optim.learning_rate"),
        (["optimizer.lr=1"], "optimizer"),
        (["loop.steps=ten"], "loop.steps"),
        (["loop.batch_size=2.5"], "loop.batch_size"),
        (["loop.keep_best=3"], "loop.keep_best"),
        (["optim.name=sgd"], "optim.name"),
        (["optim.lr=-1"], "optim.lr"),
        (["data.patch_size=60"], "data.patch_size"),
        (["loop.epochs=3"], "loop.steps"),  # both set after an explicit steps
    ],
)
def test_invalid_values_name_the_key(overrides, key):
    base = ["loop.steps=10"] if key == "loop.steps" and "epochs" in overrides[0] else []
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, base + overrides)


def test_unknown_key_in_file_is_rejected(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("loop:\n  steps: 3\n  batchsize: 4\n")
    with pytest.raises(ConfigError, match=r"loop\.batchsize"):
        load_config(path)


def test_bad_files_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["steps"])
    with pytest.raises(ConfigError, match="step"):
        load_config(None, ["optim.schedule=step"])  # decay_every missing
