"""Small runtime helpers shared by notebooks, tests and the CLI.

Quick mode
    Every notebook reads :func:`quick_mode` in its parameters cell. ``pytest``
    sets ``BARYIR_QUICK=1`` (see the repository's ``conftest.py``) so notebooks
    run in minutes on a CPU; users get full mode unless they set it.
Threads
    Small networks on a few CPU cores run faster with one BLAS/OpenMP thread
    (other threads busy-wait). :func:`configure_threads` reads ``BARYIR_THREADS``.
"""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

from baryir.errors import DeviceError

_TRUE = {"1", "true", "yes", "on"}


def quick_mode(default: bool = False) -> bool:
    """Return True when the environment asks for quick mode (``BARYIR_QUICK``).

    Parameters
    ----------
    default : bool
        Value used when ``BARYIR_QUICK`` is unset.
    """
    value = os.environ.get("BARYIR_QUICK")
    if value is None:
        return default
    return value.strip().lower() in _TRUE


def configure_threads(n: int | None = None) -> int:
    """Set the number of torch CPU threads and return it.

    Parameters
    ----------
    n : int, optional
        Thread count. Defaults to ``BARYIR_THREADS`` or 1.
    """
    if n is None:
        n = int(os.environ.get("BARYIR_THREADS", "1"))
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device(name: str = "auto") -> torch.device:
    """Resolve a device name; ``"auto"`` picks CUDA when available, else CPU.

    Raises
    ------
    DeviceError
        If ``name`` is not a device name, or names a device this machine does not
        have (CUDA unavailable, ``cuda:N`` beyond the visible GPUs, no MPS).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(f"{name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} was requested but CUDA is not available; use cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {name!r} was requested but only {torch.cuda.device_count()} GPU(s) are visible"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {name!r} was requested but MPS is not available; use cpu (or auto)")
    return device


def versions() -> dict[str, str]:
    """Versions of Python and the core packages, for a notebook's version cell."""
    import matplotlib
    import ot

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pot": ot.__version__,
        "matplotlib": matplotlib.__version__,
    }
