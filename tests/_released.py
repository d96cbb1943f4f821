"""Synthetic checkpoints in the format of the authors' released BaryIR code.

``data/released_keys.json`` lists the tensor names and shapes of the released
``BaryNet(decoder=True)`` and ``Potentials(3, 384, 128)`` state dicts (facts read from
the authors' ``model_bary.py``). :func:`released_weights` fills them with
deterministic values; :func:`save_released` writes them the way the released trainer
does, ``torch.save({"epoch", "BaryIR": module, "Pots": module})`` with whole modules
of classes from a module named ``model_bary``. That module exists only while the file
is written, so reading the file back cannot import it.

The golden output in ``data/released_golden.npz`` was computed once, outside this
repository, with the authors' own ``BaryNet(decoder=True)`` (``model_bary.py`` of
github.com/xl-tang3/BaryIR, commit af5cb9a) loaded with :func:`released_weights`
(``seed=0``, float64) on :func:`golden_input`; it stores :func:`golden_summary` of
the restored image (float32) and, under ``about``, how it was made.
"""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import torch
from torch import nn

DATA = Path(__file__).parent / "data"
MANIFEST = DATA / "released_keys.json"
GOLDEN = DATA / "released_golden.npz"
GOLDEN_SIDE = 32


def manifest() -> dict[str, dict[str, tuple[int, ...]]]:
    """``{"network": {name: shape}, "potentials": {name: shape}}`` in the released order."""
    raw = json.loads(MANIFEST.read_text())
    return {part: {name: tuple(shape) for name, shape in raw[part]} for part in ("network", "potentials")}


def released_weights(shapes: dict[str, tuple[int, ...]], seed: int = 0,
                     dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Deterministic weights for a released state dict, drawn in sorted key order.

    One float64 generator seeded with ``seed``; per tensor, standard normals ``n``:
    1-D ``*.weight`` (LayerNorm scales) ``1 + 0.1 n``, 1-D ``*.bias`` ``0.1 n``,
    ``*temperature`` ``1 + 0.1 n``, anything else ``0.7 n / sqrt(fan_in)`` with
    ``fan_in`` the product of the shape without its first entry (so that the
    network's residual output stays of order 0.3 and float32 rounding far below
    1e-4). The values do not depend on the order of ``shapes``; converted to
    ``dtype`` at the end.
    """
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for name in sorted(shapes):
        shape = shapes[name]
        noise = torch.randn(shape, generator=generator, dtype=torch.float64)
        if name.endswith("temperature") or (len(shape) == 1 and name.endswith(".weight")):
            value = 1 + 0.1 * noise
        elif len(shape) == 1:
            value = 0.1 * noise
        else:
            value = 0.7 * noise / math.sqrt(math.prod(shape[1:]))
        weights[name] = value.to(dtype)
    return {name: weights[name] for name in shapes}


def golden_input(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fixed input image of the golden test, ``(1, 3, 32, 32)`` in ``[0, 1)``."""
    generator = torch.Generator().manual_seed(1234)
    return torch.rand(1, 3, GOLDEN_SIDE, GOLDEN_SIDE, generator=generator, dtype=torch.float64).to(dtype)


def golden_summary(restored: torch.Tensor) -> torch.Tensor:
    """What the golden file stores of an output ``(1, 3, 32, 32)``: every second pixel
    ``(3, 16, 16)``."""
    return restored[0, :, ::2, ::2]


def _module_tree(root_class: type, state: dict[str, torch.Tensor], node_class: type) -> nn.Module:
    """A module of class ``root_class`` whose ``state_dict()`` is ``state`` (same order)."""
    root = root_class()
    for name, tensor in state.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if part not in module._modules:
                module.add_module(part, node_class())
            module = module._modules[part]
        module.register_parameter(leaf, nn.Parameter(tensor.clone()))
    return root


def save_released(path: Path, network: dict | None, potentials: dict | None = None, epoch: int = 56,
                  network_class: str = "BaryNet", module_name: str = "model_bary", layout: str = "trainer") -> Path:
    """Write a checkpoint the way the released trainer does.

    Parameters
    ----------
    path : Path
    network, potentials : dict
        Released-format state dicts.
    epoch : int
    network_class : str
        Class name of the pickled network (``BaryNet``; e.g. ``PromptIR`` for another model).
    module_name : str
        Module the pickled classes claim to come from; it is put in ``sys.modules``
        while saving and removed afterwards.
    layout : {"trainer", "state_dict", "module"}
        ``{"epoch", "BaryIR", "Pots"}`` of modules, a bare state dict, or the network module alone.
    """
    if layout == "state_dict":
        torch.save(network, path)
        return path
    fake = types.ModuleType(module_name)
    classes = {name: type(name, (nn.Module,), {"__module__": module_name})
               for name in (network_class, "Potentials", "Node")}
    for name, cls in classes.items():
        setattr(fake, name, cls)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = fake
    try:
        model = _module_tree(classes[network_class], network, classes["Node"])
        if layout == "module":
            torch.save(model, path)
        else:
            state = {"epoch": epoch, "BaryIR": model}
            if potentials is not None:
                state["Pots"] = _module_tree(classes["Potentials"], potentials, classes["Node"])
            torch.save(state, path)
    finally:
        if previous is None:
            del sys.modules[module_name]
        else:
            sys.modules[module_name] = previous
    return path
