"""The authors' released checkpoints: safe reading, key mapping, golden output, conversion.

The golden-output test pins the wiring of the ``reference`` network to the authors'
own network: with the fusion order swapped to concat(s, z_B), the 0.8 factor set to
1.0, a LayerNorm without bias, ``T`` one block short or the specific (skip) branch
removed, the restored image moves by 0.1 or more against a tolerance of 1e-4 (each
mutation was tried; with one block fewer in ``T`` the released weights do not even load).
"""

import builtins
import contextlib
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from _released import (
    GOLDEN,
    golden_input,
    golden_summary,
    manifest,
    released_weights,
    save_released,
)

from baryir.checkpoint import load_model
from baryir.cli import main
from baryir.data.io import read_image, to_tensor, to_uint8, write_image
from baryir.errors import CheckpointError, UnsafeCheckpointError
from baryir.models import build_model, build_potentials, config_from_preset
from baryir.released import (
    FORMAT,
    UNUSED,
    convert_released,
    map_network,
    network_key,
    potential_patch_sizes,
    write_converted,
)
from baryir.untrusted import Record, read_untrusted

GOLDEN_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def shapes():
    return manifest()


@pytest.fixture(scope="module")
def weights(shapes):
    """Golden weights (released names) of the network and of 3 potentials (patch 128)."""
    return released_weights(shapes["network"], seed=0), released_weights(shapes["potentials"], seed=1)


@pytest.fixture(scope="module")
def released_file(tmp_path_factory, weights):
    """A checkpoint as the released trainer writes it (pickled ``model_bary`` modules)."""
    path = tmp_path_factory.mktemp("released") / "model_allBaryNet128__56_1.pth"
    return save_released(path, *weights, epoch=56)


def golden_gap(model) -> float:
    """Max |restored - golden| on the golden input, for a ``reference`` model in float32."""
    with torch.no_grad():
        restored = model(golden_input()).restored
    return float((golden_summary(restored) - torch.from_numpy(np.load(GOLDEN)["restored"])).abs().max())


# --- the key mapping -----------------------------------------------------------------


def test_every_used_released_tensor_maps_onto_the_reference_network_with_its_shape(shapes):
    with torch.device("meta"):
        ours = {k: tuple(v.shape) for k, v in build_model("reference").state_dict().items()}
    mapped = {}
    for name, shape in shapes["network"].items():
        new = network_key(name)
        if name.startswith(UNUSED):
            assert new is None
            continue
        assert ours[new] == shape, name
        mapped[new] = name
    assert len(shapes["network"]) == 766 and len(mapped) == len(ours) == 760  # one-to-one
    unused = sum(int(np.prod(s)) for n, s in shapes["network"].items() if n.startswith(UNUSED))
    assert unused == 215_296


def test_map_network_lists_missing_extra_and_misshapen_tensors(shapes):
    meta = {name: torch.empty(shape, device="meta") for name, shape in shapes["network"].items()}
    state, dropped = map_network(meta)
    assert sorted(dropped) == sorted(n for n in meta if n.startswith(UNUSED))
    with torch.device("meta"):
        assert list(state) == list(build_model("reference").state_dict())  # the model's order

    broken = dict(meta)
    del broken["latent.3.attn.temperature"], broken["output.weight"]
    broken["prompt1.prompt_param"] = torch.empty(1, 5, 64, 64, 64, device="meta")
    broken["refinement.0.ffn.dwconv.weight"] = torch.empty(10, 1, 3, 3, device="meta")
    with pytest.raises(CheckpointError) as err:
        map_network(broken, "f.pth")
    message = str(err.value)
    assert "2 missing" in message and "encoder.levels.3.3.attention.temperature" in message
    assert "decoder.output.weight" in message and "1 extra: [prompt1.prompt_param]" in message
    assert "1 of another shape" in message and "(10, 1, 3, 3)" in message
    with pytest.raises(CheckpointError, match="not a BaryIR checkpoint"):
        map_network({"fc.weight": torch.zeros(2, 2)}, "f.pth")


def test_module_prefix_of_ddp_state_dicts_is_removed(shapes):
    meta = {"module." + name: torch.empty(shape, device="meta") for name, shape in shapes["network"].items()}
    assert len(map_network(meta)[0]) == 760


def test_patch_sizes_of_the_potentials_come_from_their_shapes():
    assert potential_patch_sizes(6144, 384) == [112, 120, 128, 136]  # patch 128: 4x4 after the conv
    assert potential_patch_sizes(9600, 384) == [144, 152, 160, 168]  # patch 144: 5x5
    assert potential_patch_sizes(6000, 384) == []


# --- the golden output of the authors' network ----------------------------------------


def test_reference_network_reproduces_the_authors_network_output(weights):
    """Stored output of the authors' BaryNet with the same weights (float64): our
    ``reference`` network in float32 must agree to 1e-4 (measured: 3e-6)."""
    model = build_model("reference").eval()
    model.load_state_dict(map_network(weights[0])[0])
    residual = golden_summary(model(golden_input()).restored.detach() - golden_input())
    assert residual.std() > 0.1  # the network's own contribution is large against the tolerance
    assert golden_gap(model) < GOLDEN_TOLERANCE


def test_golden_comparison_detects_a_changed_specific_scale(weights):
    """The same weights with the skip features added at 1.0 instead of 0.8 miss the golden output."""
    model = build_model("reference", specific_scale=1.0).eval()
    model.load_state_dict(map_network(weights[0])[0])
    assert golden_gap(model) > 100 * GOLDEN_TOLERANCE


# --- conversion of a file written like the released trainer's ---------------------------


@pytest.fixture(scope="module")
def converted(released_file):
    """``baryir convert-released`` of :func:`released_file`: the output path and what it printed."""
    out = released_file.with_name("converted.pt")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["convert-released", str(released_file), str(out)]) == 0
    return out, printed.getvalue()


def test_released_file_needs_the_authors_classes_to_load_with_torch(released_file):
    assert "model_bary" not in sys.modules
    with pytest.raises(pickle.UnpicklingError):  # weights_only refuses the pickled modules
        torch.load(released_file, weights_only=True)
    with pytest.raises(ModuleNotFoundError, match="model_bary"):
        torch.load(released_file, weights_only=False)


def test_conversion_round_trip_without_the_authors_code(converted, weights):
    """(slow, ~10 s: a 330 MB file is written, converted and the network rebuilt)"""
    out, printed = converted
    assert "model_bary" not in sys.modules
    assert "model_bary.BaryNet, epoch 56): 760 network tensors; dropped 6 unused (215,296 parameters)" in printed
    assert "potentials: 3 sources, patch size 128" in printed
    stored = torch.load(out, weights_only=True)  # a plain weights-only checkpoint
    assert stored["format"] == FORMAT and stored["source"]["epoch"] == 56
    network, potentials = weights
    for name, tensor in network.items():
        if not name.startswith(UNUSED):
            assert torch.equal(stored["model"][network_key(name)], tensor), name
    for name, tensor in potentials.items():
        assert torch.equal(stored["potentials"]["nets." + name.removeprefix("potentials.")], tensor), name
    nets = build_potentials(config_from_preset("reference"), 3, "reference", patch_size=128)
    nets.load_state_dict(stored["potentials"])
    model, config = load_model(out)
    assert config == config_from_preset("reference")
    assert golden_gap(model) < GOLDEN_TOLERANCE  # the authors' outputs, through the file


def test_restore_command_runs_the_converted_weights(converted, tmp_path):
    out = converted[0]
    image = (np.random.default_rng(0).random((20, 28, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "in" / "photo.png", image)
    assert main(["restore", "--ckpt", str(out), str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    model, _ = load_model(out)
    with torch.no_grad():
        expected = to_uint8(model(to_tensor(image).unsqueeze(0)).restored)
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "photo.png"), expected)


@pytest.mark.parametrize("layout", ["module", "ddp_state_dict"])
def test_other_released_layouts_convert_to_the_same_network(layout, weights, tmp_path):
    network = weights[0]
    if layout == "ddp_state_dict":
        network, layout = {"module." + k: v for k, v in network.items()}, "state_dict"
    path = save_released(tmp_path / "released.pth", network, layout=layout)
    checkpoint, info = convert_released(path)
    assert "potentials" not in checkpoint and info["potentials"] is None
    assert torch.equal(checkpoint["model"]["decoder.output.weight"], weights[0]["output.weight"])
    assert len(checkpoint["model"]) == 760


def test_another_model_of_the_authors_is_refused(tmp_path):
    path = save_released(tmp_path / "promptir.pth", {"prompt1.prompt_param": torch.zeros(1, 2)},
                         network_class="PromptIR")
    with pytest.raises(CheckpointError, match="model_bary.PromptIR network, not the released model_bary.BaryNet"):
        convert_released(path)


def test_files_that_are_not_released_checkpoints_get_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x80\x02 not a checkpoint")
    with pytest.raises(CheckpointError, match="not a torch.save archive"):
        convert_released(garbage)
    legacy = tmp_path / "legacy.pth"
    torch.save({"x": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy format"):
        convert_released(legacy)
    other = tmp_path / "other.pth"
    torch.save({"epoch": 3, "net": {"w": torch.zeros(2)}}, other)
    with pytest.raises(CheckpointError, match="no network under"):
        convert_released(other)
    with pytest.raises(CheckpointError, match="no such file"):
        convert_released(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="original is kept"):
        write_converted(other, other)
    assert main(["convert-released", str(garbage), str(tmp_path / "out.pt")]) == 2
    assert not (tmp_path / "out.pt").exists()


# --- files that try to run code ----------------------------------------------------------


class _Payload:
    """Pickles as a call of ``func(*args)`` (what a malicious checkpoint contains)."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    return {
        "os.system": (os.system, (f"touch {marker}",)),
        "builtins.exec": (builtins.exec, (f"open({str(marker)!r}, 'w').close()",)),
        "subprocess.call": (subprocess.call, (["touch", str(marker)],)),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.exec", "subprocess.call"])
def test_a_file_that_runs_code_is_refused_and_nothing_runs(name, tmp_path, weights):
    marker = tmp_path / "marker"
    payload = _Payload(*_payloads(marker)[name])
    path = tmp_path / "evil.pth"
    small = {"patch_embed.proj.weight": torch.zeros(48, 3, 3, 3)}
    torch.save({"epoch": 1, "BaryIR": small, "Pots": payload}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused, nothing was run") as err:
        convert_released(path)
    assert name.split(".")[1] in str(err.value)  # names what the file asked for
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: an ordinary load runs it
    assert marker.exists()


def test_records_keep_the_state_of_unknown_classes(released_file):
    obj = read_untrusted(released_file)
    assert isinstance(obj["BaryIR"], Record) and obj["BaryIR"].cls.qualname == "model_bary.BaryNet"
    assert obj["epoch"] == 56 and "_modules" in obj["BaryIR"].state
