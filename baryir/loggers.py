"""Training loggers: TensorBoard or Weights & Biases, chosen by ``loop.logger``.

``none`` (the default) logs nothing beyond ``history.json``/``history.csv``;
``tensorboard`` writes event files to ``OUTPUT_DIR/tensorboard`` (watch them with
``tensorboard --logdir OUTPUT_DIR``); ``wandb`` logs to a Weights & Biases run
(project ``$WANDB_PROJECT``, default ``baryir``). Both are optional extras:
``pip install "baryir[tensorboard]"`` or ``"baryir[wandb]"``.

What is logged is generic, so new history fields need no change here:

- every numeric field of each history record (the loss terms, the congruence
  residual, learning rates, gradient norms, images per second) as
  ``train/<field>``, the validation fields ``val_<name>`` as ``val/<name>``
  (``val/psnr`` and ``val/psnr_<test set>``), ``step`` as the x axis;
- at each validation, one image per validation set: degraded | restored | clean
  side by side, as ``val/<test set>``.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from baryir.errors import MissingPackageError

LOGGERS = ("none", "tensorboard", "wandb")

#: Package each logger needs and the extra that installs it.
_REQUIREMENTS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}

#: History fields that are not logged as scalars (``step`` is the x axis).
_NOT_SCALARS = {"step", "epoch"}


def require_logger(kind: str) -> None:
    """Check that the package behind logger ``kind`` is installed.

    Raises
    ------
    MissingPackageError
        With the install command, so a run fails before it starts, not after.
    """
    if kind not in LOGGERS:
        raise ValueError(f"unknown logger {kind!r}; choose one of {LOGGERS}")
    if kind in _REQUIREMENTS:
        package, extra = _REQUIREMENTS[kind]
        if importlib.util.find_spec(package) is None:
            raise MissingPackageError(
                f"loop.logger={kind} needs the {package} package: pip install \"baryir[{extra}]\" "
                "(or set loop.logger=none)"
            )


def scalar_items(record: dict[str, Any]) -> dict[str, float]:
    """Loggable scalars of a history record: ``{"train/loss": ..., "val/psnr": ...}``.

    Every finite-or-not real number except ``step``/``epoch``; ``None``, strings,
    booleans and containers are skipped.
    """
    scalars = {}
    for key, value in record.items():
        if key in _NOT_SCALARS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        name = f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"
        scalars[name] = float(value)
    return scalars


def image_strip(example: dict[str, Any]) -> np.ndarray:
    """Degraded | restored | clean side by side: uint8 array (H, 3W, 3).

    ``example`` holds float tensors or arrays (3, H, W) in [0, 1] under
    ``"degraded"``, ``"restored"`` and ``"clean"``.
    """
    panels = []
    for key in ("degraded", "restored", "clean"):
        image = np.asarray(example[key].detach().cpu() if hasattr(example[key], "detach") else example[key])
        panels.append(np.clip(image, 0.0, 1.0).transpose(1, 2, 0))
    return (np.concatenate(panels, axis=1) * 255.0 + 0.5).astype(np.uint8)


class Logger:
    """The ``none`` logger and the interface of the others (every method a no-op)."""

    def log_record(self, record: dict[str, Any]) -> None:
        """Log the scalars of one history record at ``record["step"]``."""

    def log_images(self, step: int, examples: Iterable[dict[str, Any]]) -> None:
        """Log one degraded | restored | clean strip per example (``example["task"]`` names it)."""

    def flush(self) -> None:
        """Write what is buffered (called with every checkpoint)."""

    def close(self) -> None:
        """Flush and release the files or the run."""


class TensorBoardLogger(Logger):
    """Event files in ``log_dir``, through :class:`torch.utils.tensorboard.SummaryWriter`."""

    def __init__(self, log_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log_record(self, record):
        for name, value in scalar_items(record).items():
            if math.isfinite(value):
                self.writer.add_scalar(name, value, record["step"])

    def log_images(self, step, examples):
        for example in examples:
            self.writer.add_image(f"val/{example['task']}", image_strip(example), step, dataformats="HWC")

    def flush(self):
        self.writer.flush()

    def close(self):
        self.writer.close()


class WandbLogger(Logger):
    """A Weights & Biases run named after the output folder, with the config attached."""

    def __init__(self, out_dir: str | Path, config: dict[str, Any]):
        import wandb

        self.wandb = wandb
        out_dir = Path(out_dir)
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "baryir"), name=out_dir.name,
                              dir=str(out_dir), config=config)

    def log_record(self, record):
        self.run.log(scalar_items(record), step=record["step"])

    def log_images(self, step, examples):
        images = {f"val/{example['task']}": self.wandb.Image(image_strip(example),
                                                             caption="degraded | restored | clean")
                  for example in examples}
        if images:
            self.run.log(images, step=step)

    def close(self):
        self.run.finish()


def build_logger(kind: str, out_dir: str | Path, config: dict[str, Any] | None = None) -> Logger:
    """The logger for ``loop.logger`` = ``kind``, writing next to ``out_dir``'s checkpoints.

    Raises
    ------
    MissingPackageError
        If the logger's package is not installed (see :func:`require_logger`).
    """
    require_logger(kind)
    if kind == "tensorboard":
        return TensorBoardLogger(Path(out_dir) / "tensorboard")
    if kind == "wandb":
        return WandbLogger(out_dir, config or {})
    return Logger()
