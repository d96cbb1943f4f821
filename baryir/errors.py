"""User-facing errors.

Every error caused by the user's input (a config key, a data folder, an image
file, a checkpoint) derives from :class:`BaryIRError`, carries a message that
says what is wrong and what to do, and is reported by the CLI without a traceback.
"""


class BaryIRError(Exception):
    """Base class of errors caused by user input; the message says how to fix it."""


class ConfigError(BaryIRError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class DatasetLayoutError(BaryIRError, FileNotFoundError):
    """A dataset folder is missing, empty, unpaired or laid out differently than expected."""


class ImageReadError(BaryIRError, ValueError):
    """An image file cannot be read or has a format the project does not handle."""


class CheckpointError(BaryIRError, RuntimeError):
    """A checkpoint is missing, corrupt, or belongs to another model configuration."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint asks to run code while it is read; it was refused and nothing ran."""


class TrainingDivergedError(BaryIRError, RuntimeError):
    """Training produced a non-finite loss; the last good checkpoint is kept."""


class DeviceError(BaryIRError, RuntimeError):
    """The requested device (``cuda``, ``cuda:N``, ``mps``) is not available or not a device name."""


class MissingPackageError(BaryIRError, ImportError):
    """An optional package (an extra such as ``tensorboard`` or ``wandb``) is not installed."""


class MissingWeightsError(BaryIRError, FileNotFoundError):
    """Pretrained weights for an optional metric (LPIPS, FID) are not available locally."""
