"""Checkpoints: plain state dicts, atomic writes, strict loading, RNG capture.

A training checkpoint is a dict of tensors and plain Python values only, so it
loads with ``torch.load(..., weights_only=True)`` (no pickled classes, unlike the
released code). Keys::

    format           "baryir-train-v1"
    model            state dict of the restoration network
    potentials       state dict of the potentials f_k
    model_config     dict of the network's BaryIRConfig (to rebuild it for inference)
    config           dict of the TrainConfig
    optimizers       {"model": ..., "potentials": ...} optimiser state dicts
    schedulers       {"model": ..., "potentials": ...} scheduler state dicts
    step, epoch      completed optimisation steps; epoch of the next batch
    rng              see :func:`capture_rng_state`
    best_metric      best validation PSNR so far (or None)

Files are written to a temporary name in the same folder and moved into place
with :func:`os.replace`, so an interrupted save never leaves a truncated file
under the final name. A process killed during a save leaves its temporary file
(``.NAME.tmp-PID``) behind; the next save to the same name removes the ones whose
process has ended.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baryir.errors import CheckpointError

FORMAT = "baryir-train-v1"
#: Whether ``os.kill(pid, 0)`` only checks that a process exists (POSIX); on Windows
#: it would terminate the process, so stale temporaries are left alone there.
CAN_PROBE_PROCESSES = os.name == "posix"


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    state : dict
        Tensors and plain Python containers/scalars only.
    path : str or Path
        Destination; its folder is created when missing.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete the temporary files that killed saves to ``path`` left behind.

    Only ``.NAME.tmp-PID`` files whose process ``PID`` no longer runs are removed,
    so a save in progress in another process is never touched. POSIX only: Windows
    has no harmless existence check for a process (``os.kill`` there terminates it),
    so nothing is removed there.

    Returns
    -------
    list of Path
        The files removed.
    """
    path = Path(path)
    removed = []
    if not CAN_PROBE_PROCESSES:
        return removed
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _process_running(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``.

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable, corrupt or not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; check the path (training never restarts "
            f"silently when a resume file is missing)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for damaged files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a state-dict checkpoint "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
            f"use another checkpoint (e.g. best.pt / an earlier save)"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return state


def load_state_checked(module: torch.nn.Module, state: dict, source: str | Path) -> None:
    """Load ``state`` into ``module``; mismatches raise CheckpointError naming the layer.

    Parameters
    ----------
    module : nn.Module
    state : dict
        A state dict.
    source : str or Path
        Where the state came from, for the message.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(
            f"checkpoint {source} does not match the model ({detail}); was it saved with "
            f"another model preset or configuration?"
        )
    for name, tensor in own.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"checkpoint {source}: layer '{name}' has shape {tuple(state[name].shape)} "
                f"but the model expects {tuple(tensor.shape)}; the checkpoint belongs to "
                f"another model configuration"
            )
    module.load_state_dict(state)


def require_keys(state: dict, keys: tuple[str, ...], source: str | Path) -> None:
    """Raise CheckpointError if ``state`` lacks one of ``keys``."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {source} lacks {missing}; it is not a baryir training checkpoint"
        )


def capture_rng_state() -> dict[str, Any]:
    """Snapshot Python's, numpy's and torch's (CPU and CUDA) global generators.

    Everything is stored as tensors or plain values so the snapshot survives
    ``weights_only=True`` loading.
    """
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot made by :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    saved = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]},
            "has_gauss": saved["has_gauss"],
            "gauss": saved["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the restoration network from a training checkpoint, for inference.

    Parameters
    ----------
    path : str or Path
        A checkpoint written by :func:`baryir.train.train` (``last.pt`` / ``best.pt``).
    device : str or torch.device

    Returns
    -------
    model : baryir.models.BaryIR
        In eval mode on ``device``; the potentials are not needed at test time.
    model_config : baryir.models.BaryIRConfig

    Raises
    ------
    CheckpointError
        Missing/corrupt file, missing keys, or weights that do not fit the config.
    """
    from baryir.models import BaryIRConfig, build_model

    state = load_checkpoint(path, map_location="cpu")
    require_keys(state, ("model", "model_config"), path)
    try:
        model_config = BaryIRConfig(**state["model_config"])
        model = build_model(model_config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {path} stores a model configuration this version cannot build: {err}"
        ) from None
    load_state_checked(model, state["model"], path)
    return model.to(device).eval(), model_config
