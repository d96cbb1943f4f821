"""Training configs: YAML files, dotted overrides and strict validation."""

import re

import pytest

from baryir.config import (
    TrainConfig,
    apply_overrides,
    config_names,
    config_to_dict,
    load_config,
    save_config,
    validate_config,
)
from baryir.errors import ConfigError
from baryir.train import Trainer


@pytest.mark.parametrize("name", ["aio3", "aio5", "demo"])
def test_shipped_configs_load(name):
    config = load_config(name)
    assert isinstance(config, TrainConfig)
    assert config.data.benchmark == name


def test_reference_schedule_in_paper_configs():
    aio3, aio5 = load_config("aio3"), load_config("aio5")
    for config in (aio3, aio5):
        assert config.optim.name == "rmsprop" and config.optim.lr == pytest.approx(1e-4)
        assert config.optim.l1_weight == 10000 and config.cost.gamma == pytest.approx(0.05)
        assert config.loop.batch_size == 3 and config.data.patch_size == 128
    assert (aio3.loop.epochs, aio3.optim.decay_every) == (56, 50)
    assert (aio5.loop.epochs, aio5.optim.decay_every) == (57, 31)


def test_overrides_parse_values_and_reach_nested_keys():
    config = load_config("demo", ["optim.lr=3e-4", "loop.steps=7", "model.overrides.dim=16",
                                                 "loop.keep_best=false"])
    assert config.optim.lr == pytest.approx(3e-4) and isinstance(config.optim.lr, float)
    assert config.loop.steps == 7 and config.loop.keep_best is False
    assert config.model.overrides == {"dim": 16}


def test_round_trip_through_yaml(tmp_path):
    config = load_config("aio3", ["loop.seed=5", "data.online=[dehaze]"])
    assert config.data.online == ["dehaze"]
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
        (["cost.overrides.gamma=1.0"], "cost.overrides.gamma"),
        (["optim.name=sgd"], "optim.name"),
        (["optim.lr=-1"], "optim.lr"),
        (["data.patch_size=60"], "data.patch_size"),
        (["data.online=deblur"], "data.online"),
        (["data.online=[1]"], "data.online[0]"),
        (["loop.epochs=3"], "loop.steps"),  # both set after an explicit steps
    ],
)
def test_invalid_values_name_the_key(overrides, key):
    base = ["loop.steps=10"] if key == "loop.steps" and "epochs" in overrides[0] else []
    with pytest.raises(ConfigError, match=re.escape(key)):
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


def test_packaged_names_and_files(tmp_path, monkeypatch):
    assert {"aio3", "aio5", "demo"} <= set(config_names())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "aio3").write_text("loop:\n  steps: 4\n")  # an existing file wins over a name
    assert load_config("aio3").loop.steps == 4
    with pytest.raises(ConfigError, match=r"unknown config 'aio4'.*aio3, aio5, demo"):
        load_config("aio4")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("configs/aio3.yaml")  # the old source-checkout path


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.overrides.dim=wide", r"'model\.overrides\.dim': expected int"),
        ("model.overrides.width=8", r"unknown config key 'model\.overrides\.width'"),
        ("model.overrides.num_blocks=[1,1,1]", r"'model\.overrides\.num_blocks': expected 4 values"),
        ("model.overrides.heads=[1,1,x,1]", r"'model\.overrides\.heads\[2\]': expected int"),
        ("model.overrides.layernorm=group", r"section 'model'.*layernorm"),
        ("model.preset=huge", r"'model\.preset': unknown preset 'huge'"),
        ("cost.overrides.use_contrastive=3", r"'cost\.overrides\.use_contrastive': expected bool"),
        ("cost.overrides.distance=manhattan", r"section 'cost'.*manhattan"),
        ("cost.overrides.temperature=1", r"unknown config key 'cost\.overrides\.temperature'"),
    ],
)
def test_overrides_are_checked_against_the_model_and_cost_fields(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("demo", [override])


def test_override_values_are_converted_to_the_field_types():
    config = load_config("demo", ["model.overrides.num_blocks=[1,2,2,1]", "model.overrides.ffn_expansion=2",
                                  "cost.overrides.eps=1e-6"])
    assert config.model.overrides["num_blocks"] == (1, 2, 2, 1)
    assert isinstance(config.model.overrides["ffn_expansion"], float)
    assert config.cost.overrides["eps"] == pytest.approx(1e-6)


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: setattr(c.loop, "steps", "ten"), r"loop\.steps"),
        (lambda c: setattr(c.optim, "name", "sgd"), r"optim\.name"),
        (lambda c: setattr(c.data, "patch_size", 60), r"data\.patch_size"),
        (lambda c: setattr(c.loop, "logger", "mlflow"), r"loop\.logger"),
        (lambda c: c.model.overrides.update(dim="4"), r"model\.overrides\.dim"),
    ],
)
def test_a_config_changed_after_it_was_built_is_checked_again_when_used(change, key):
    config = load_config("demo")
    change(config)  # no check here: plain dataclass attributes
    with pytest.raises(ConfigError, match=key):
        validate_config(config)
    with pytest.raises(ConfigError, match=key):
        Trainer(config)  # checked before any data are read or networks built


def test_validate_config_returns_a_checked_copy():
    config = load_config("demo")
    config.optim.lr = 1  # an int where a float is expected: converted, not rejected
    checked = validate_config(config)
    assert checked is not config and isinstance(checked.optim.lr, float)
    assert config_to_dict(checked) == config_to_dict(config)
