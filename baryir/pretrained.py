"""Pretrained models shipped inside the package.

Each model is a weights-only file ``baryir/weights/<name>.pt`` (the network's state dict
and its :class:`~baryir.models.BaryIRConfig`, no optimiser state, no pickled code), its
training history ``<name>.history.json`` (:func:`history`) and an entry of
``baryir/weights/manifest.json``: its SHA-256, a description, the config and command that
trained it, and how long that took on what hardware.
:func:`load` verifies the checksum before reading the file.

>>> import baryir.pretrained
>>> baryir.pretrained.available()            # doctest: +SKIP
{'demo-small': 'small preset trained on the demo photographs (noise, rain, haze, blur, low light)'}
>>> model = baryir.pretrained.load("demo-small")   # doctest: +SKIP

From the command line: ``baryir restore --pretrained demo-small photo.png --out restored/``
and ``baryir eval --pretrained demo-small --benchmark demo --data ROOT``.

:func:`export_pretrained` turns a training checkpoint (``best.pt`` / ``last.pt``) into
such a file and its manifest entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from baryir.errors import CheckpointError, ConfigError

#: Folder of the shipped weights and their manifest (package data).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = "manifest.json"
FORMAT = "baryir-pretrained-1"


def _manifest(folder: Path | None = None) -> dict[str, dict]:
    path = (WEIGHTS_DIR if folder is None else folder) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def available() -> dict[str, str]:
    """Names of the shipped models with a one-line description each."""
    return {name: entry["description"] for name, entry in sorted(_manifest().items())}


def info(name: str) -> dict:
    """The manifest entry of ``name`` (file, sha256, description, training recipe).

    Raises
    ------
    ConfigError
        ``name`` is not a shipped model.
    """
    entries = _manifest()
    if name not in entries:
        names = ", ".join(sorted(entries)) or "none are installed"
        raise ConfigError(f"unknown pretrained model {name!r}; available: {names}")
    return dict(entries[name])


def history(name: str) -> list[dict]:
    """The training history of the shipped model ``name`` (records of
    :func:`baryir.train.train`: losses, gradient norms, validation PSNR)."""
    return json.loads((WEIGHTS_DIR / info(name)["history"]).read_text())


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(name: str, device: str | torch.device = "cpu"):
    """The shipped model ``name`` in eval mode on ``device``.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the available ones).
    CheckpointError
        The file is missing or its checksum does not match the manifest (a damaged or
        replaced file; reinstall the package).
    """
    from baryir.checkpoint import load_state_checked
    from baryir.models import BaryIRConfig, build_model

    entry = info(name)
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise CheckpointError(f"pretrained model {name!r}: {path} is missing; reinstall baryir")
    found = sha256(path)
    if found != entry["sha256"]:
        raise CheckpointError(
            f"pretrained model {name!r}: checksum of {path} is {found[:12]}..., expected "
            f"{entry['sha256'][:12]}...; the file is damaged or replaced, reinstall baryir"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(BaryIRConfig(**state["model_config"]))
    load_state_checked(model, state["model"], path)
    return model.to(device).eval()


def export_pretrained(checkpoint: str | Path, name: str, description: str, recipe: dict,
                      folder: str | Path | None = None, history: list[dict] | None = None) -> Path:
    """Write ``<folder>/<name>.pt`` (weights only) from a training checkpoint and record it.

    Parameters
    ----------
    checkpoint : str or Path
        ``best.pt`` or ``last.pt`` of :func:`baryir.train.train`.
    name : str
        Name under which :func:`load` finds the model.
    description : str
        One line for :func:`available`.
    recipe : dict
        How the model was trained (config, command, steps, time, hardware); stored in
        the manifest as it is.
    folder : str or Path
        Destination (default: the package's weights folder).
    history : list of dict, optional
        The training history to ship (default: the checkpoint's own; pass the records of
        every stage for a model trained in several runs).

    Returns
    -------
    Path
        The written weights file.
    """
    from baryir.checkpoint import load_checkpoint, require_keys

    state = load_checkpoint(checkpoint)
    require_keys(state, ("model", "model_config", "step"), checkpoint)
    folder = WEIGHTS_DIR if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    weights = {key: value.detach().clone().contiguous() for key, value in state["model"].items()}
    torch.save({"format": FORMAT, "model": weights, "model_config": state["model_config"]}, path)
    history_path = folder / f"{name}.history.json"
    records = state.get("history", []) if history is None else history
    history_path.write_text(json.dumps(records, separators=(",", ":")) + "\n")
    entries = _manifest(folder)
    entries[name] = {"file": path.name, "sha256": sha256(path), "history": history_path.name,
                     "description": description, "step": int(state["step"]), **recipe}
    (folder / MANIFEST).write_text(json.dumps(entries, indent=1) + "\n")
    return path
