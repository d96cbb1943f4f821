"""The authors' released checkpoints, converted to ``baryir`` checkpoints.

The released trainer saves ``torch.save({"epoch": e, "BaryIR": model, "Pots":
potentials})`` with the whole modules pickled; their classes live in the module
``model_bary`` of the authors' repository (``BaryNet(decoder=True)``,
``Potentials``). Such a file is read here with :func:`baryir.untrusted.read_untrusted`
(nothing from the file runs; the authors' code need not be installed), and its
tensors are renamed onto :func:`baryir.models.build_model` ``("reference")``, whose
layout is the released one:

- ``BaryNet``'s state dict has 766 tensors; 760 map one-to-one, with identical
  shapes, by renaming prefixes (:data:`NETWORK_PREFIXES`, then inside each
  transformer block :data:`BLOCK_PARTS`). The 6 others are 1x1 convolutions the
  released forward pass never uses (:data:`UNUSED`, 215,296 parameters) and are
  dropped.
- ``Potentials.potentials.k.*`` maps to ``baryir``'s ``Potentials.nets.k.*`` (same
  layer order); ``K`` and the training patch size are read from the shapes.

Also accepted: the DDP trainer's files (same keys), files holding only a state
dict, a pickled module alone, and keys with a ``module.`` prefix (a state dict
taken from a ``DistributedDataParallel`` wrapper).

The output (:func:`convert_released`, ``baryir convert-released IN OUT``) is a
weights-only ``baryir`` checkpoint: ``format`` (:data:`FORMAT`), ``model`` and
``model_config`` (the ``reference`` preset), ``potentials`` with
``potentials_config`` when the file has them, and ``source`` (where the weights
came from). :func:`baryir.checkpoint.load_model`, ``baryir restore`` and
``baryir eval`` read it like a training checkpoint.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import torch

from baryir.checkpoint import load_state_checked, save_checkpoint
from baryir.errors import CheckpointError
from baryir.models import build_model, build_potentials, config_from_preset
from baryir.untrusted import Record, module_state_dict, read_untrusted

FORMAT = "baryir-weights-v1"
#: Keys of the released checkpoint dict that hold the network / the potentials.
NETWORK_KEYS = ("BaryIR", "model", "state_dict")
POTENTIAL_KEYS = ("Pots", "discr")
#: The released network's class, as its trainer pickles it.
NETWORK_CLASS = "model_bary.BaryNet"
#: Wrapper modules whose ``module`` child holds the network.
WRAPPERS = ("DistributedDataParallel", "DataParallel")

#: Released top-level module -> ``baryir`` module (``reference`` preset), in forward order.
NETWORK_PREFIXES = {
    "patch_embed.": "encoder.patch_embed.",
    "encoder_level1.": "encoder.levels.0.",
    "down1_2.body.0.": "encoder.downs.0.conv.",
    "encoder_level2.": "encoder.levels.1.",
    "down2_3.body.0.": "encoder.downs.1.conv.",
    "encoder_level3.": "encoder.levels.2.",
    "down3_4.body.0.": "encoder.downs.2.conv.",
    "latent.": "encoder.levels.3.",
    "LN.body.": "latent_norm.",
    "barylatent.": "barycenter_map.",
    "noise_level3.": "aggregation.blocks.0.",
    "reduce_noise_level3.": "aggregation.reduce.",
    "resreduce_noise_level3.": "specific_branch.entry.",
    "resup4_3.body.0.": "specific_branch.ups.0.conv.",
    "resreduce_chan_level3.": "specific_branch.refines.0.0.",
    "resdecoder_level3.": "specific_branch.refines.0.1.",
    "resreduce_noise_level2.": "specific_branch.refines.0.2.",
    "resup3_2.body.0.": "specific_branch.ups.1.conv.",
    "resreduce_chan_level2.": "specific_branch.refines.1.0.",
    "resdecoder_level2.": "specific_branch.refines.1.1.",
    "resreduce_noise_level1.": "specific_branch.refines.1.2.",
    "resup2_1.body.0.": "specific_branch.ups.2.conv.",
    "up4_3.body.0.": "decoder.stages.0.up.conv.",
    "reduce_chan_level3.": "decoder.stages.0.reduce.",
    "decoder_level3.": "decoder.stages.0.blocks.",
    "noise_level2.": "decoder.stages.0.adapter.0.",
    "reduce_noise_level2.": "decoder.stages.0.adapter.1.",
    "up3_2.body.0.": "decoder.stages.1.up.conv.",
    "reduce_chan_level2.": "decoder.stages.1.reduce.",
    "decoder_level2.": "decoder.stages.1.blocks.",
    "noise_level1.": "decoder.stages.1.adapter.0.",
    "reduce_noise_level1.": "decoder.stages.1.adapter.1.",
    "up2_1.body.0.": "decoder.stages.2.up.conv.",
    "decoder_level1.": "decoder.stages.2.blocks.",
    "refinement.": "decoder.refinement.",
    "output.": "decoder.output.",
}
#: Inside a transformer block: released part -> ``baryir`` part.
BLOCK_PARTS = {
    "norm1.body.": "norm1.",
    "norm2.body.": "norm2.",
    "attn.qkv.": "attention.to_qkv.",
    "attn.": "attention.",
    "ffn.": "feed_forward.",
}
#: Released modules the forward pass never uses (dropped).
UNUSED = ("chnl_reduce1.", "chnl_reduce2.", "chnl_reduce3.",
          "reduce_noise_channel_1.", "reduce_noise_channel_2.", "reduce_noise_channel_3.")
_POTENTIAL_KEY = re.compile(r"potentials\.(\d+)\.(0|3|4|6)\.(weight|bias)")
#: Training patch sizes of the released scripts, preferred when the shapes allow several.
KNOWN_PATCH_SIZES = (128, 144)


def network_key(name: str) -> str | None:
    """The ``baryir`` name of a released ``BaryNet`` state-dict key (None: unused or unknown)."""
    for old, new in NETWORK_PREFIXES.items():
        if name.startswith(old):
            return new + _block_part(name[len(old):])
    return None


def _block_part(rest: str) -> str:
    """Rename the transformer-block part of ``rest`` (``"<index>.<part>..."`` in a stack)."""
    index, _, tail = rest.partition(".")
    for head, body in ((index + ".", tail), ("", rest)) if index.isdigit() else (("", rest),):
        for old, new in BLOCK_PARTS.items():
            if body.startswith(old):
                return head + new + body[len(old):]
    return rest


def strip_module_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix ``DistributedDataParallel`` puts on every key."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def map_network(released: dict[str, torch.Tensor], source: str | Path = "the file") -> tuple[dict, list[str]]:
    """Rename a released ``BaryNet`` state dict onto ``build_model("reference")``.

    Parameters
    ----------
    released : dict
        ``BaryNet(decoder=True).state_dict()`` (a ``module.`` prefix is removed).
    source : str or Path
        For messages.

    Returns
    -------
    state : dict
        The ``reference`` network's state dict (tensors shared with ``released``).
    dropped : list of str
        Released keys of the unused modules (:data:`UNUSED`).

    Raises
    ------
    CheckpointError
        Not a BaryIR network (no key maps), or keys missing, extra, or of other shapes
        (each listed).
    """
    released = strip_module_prefix(released)
    expected = _reference_shapes()
    state, dropped, unknown = {}, [], []
    for name, tensor in released.items():
        new = network_key(name)
        if new is not None and new in expected:
            state[new] = tensor
        elif name.startswith(UNUSED):
            dropped.append(name)
        else:
            unknown.append(name)
    if not state:
        raise CheckpointError(
            f"{source} holds no tensor of the released BaryNet (first keys: {list(released)[:3]}); "
            f"it is not a BaryIR checkpoint"
        )
    problems = []
    missing = [k for k in expected if k not in state]
    if missing:
        problems.append(f"{len(missing)} missing: {_listing(missing)}")
    if unknown:
        problems.append(f"{len(unknown)} extra: {_listing(unknown)}")
    wrong = [f"{k} {tuple(v.shape)} (expected {expected[k]})" for k, v in state.items()
             if tuple(v.shape) != expected[k]]
    if wrong:
        problems.append(f"{len(wrong)} of another shape: {_listing(wrong)}")
    if problems:
        raise CheckpointError(
            f"{source} does not hold the released BaryNet(decoder=True) network: tensors "
            + "; ".join(problems) + ". Convert a BaryNet checkpoint of the released 3- or 5-degradation models"
        )
    return {k: state[k] for k in expected}, dropped


def map_potentials(released: dict[str, torch.Tensor], patch_size: int | None = None,
                   source: str | Path = "the file") -> tuple[dict, dict]:
    """Rename released ``Potentials`` onto ``baryir``'s ``reference`` potentials.

    Parameters
    ----------
    released : dict
        ``Potentials(K, 384, size).state_dict()`` (keys ``potentials.k.{0,3,4,6}.*``).
    patch_size : int, optional
        The training patch size. Several sizes give the same shapes (the strided
        convolution rounds); by default the first of :data:`KNOWN_PATCH_SIZES` that
        fits, else the smallest fitting multiple of 8.
    source : str or Path

    Returns
    -------
    state : dict
        State dict of ``build_potentials(reference config, K, "reference", patch_size)``.
    config : dict
        ``n_sources``, ``kind`` ("reference"), ``patch_size`` and ``patch_sizes``
        (every size the shapes fit).
    """
    released = strip_module_prefix(released)
    bad = [k for k in released if not _POTENTIAL_KEY.fullmatch(k)]
    if bad or not released:
        raise CheckpointError(f"{source}: the potentials hold unexpected tensors {_listing(bad)}; "
                              f"expected the released Potentials (potentials.<k>.<layer>.*)")
    n_sources = 1 + max(int(_POTENTIAL_KEY.fullmatch(k).group(1)) for k in released)
    channels = config_from_preset("reference").latent_channels
    first = released.get("potentials.0.3.weight")
    fitting = potential_patch_sizes(first.shape[1], channels) if first is not None and first.ndim == 2 else []
    if not fitting:
        raise CheckpointError(f"{source}: the potentials' first linear layer has shape "
                              f"{None if first is None else tuple(first.shape)}, not (F/4, F) with "
                              f"F = {channels} * o^2")
    if patch_size is None:
        patch_size = next((p for p in KNOWN_PATCH_SIZES if p in fitting), fitting[0])
    elif patch_size not in fitting:
        raise CheckpointError(f"{source}: the potentials were trained on patches of {fitting} pixels, "
                              f"not {patch_size}; pass one of those (or none)")
    potentials = build_potentials(config_from_preset("reference"), n_sources, "reference", patch_size)
    state = {"nets." + k[len("potentials."):]: v for k, v in released.items()}
    load_state_checked(potentials, state, source)  # names and shapes
    config = {"n_sources": n_sources, "kind": "reference", "patch_size": patch_size, "patch_sizes": fitting}
    return potentials.state_dict(), config


def potential_patch_sizes(features: int, channels: int) -> list[int]:
    """Training patch sizes (multiples of 8) for which released potentials have ``features`` inputs.

    The strided convolution (kernel 4, stride 4, padding 1) maps a latent of side
    ``h = patch / 8`` to ``o = (h - 2) // 4 + 1``, and ``features = channels * o^2``;
    ``h`` in ``4o - 2 ... 4o + 1`` give the same ``o``. Empty if ``features`` fits none.
    """
    side = math.isqrt(features // channels) if features >= channels else 0
    if side < 1 or channels * side * side != features:
        return []
    return [8 * latent for latent in range(4 * side - 2, 4 * side + 2) if latent >= 2]


def _reference_shapes() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):  # shapes only, no memory
        return {k: tuple(v.shape) for k, v in build_model("reference").state_dict().items()}


def _listing(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"


def _split(obj, source) -> tuple[object, object, int | None]:
    """``(network, potentials, epoch)`` of an unpickled released file (records or state dicts)."""
    if isinstance(obj, Record) or _is_state_dict(obj):
        return obj, None, None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{source} holds a {type(obj).__name__}, not a BaryIR checkpoint")
    network = next((obj[k] for k in NETWORK_KEYS if k in obj), None)
    if network is None:
        raise CheckpointError(f"{source} has no network under {list(NETWORK_KEYS)} (its keys: "
                              f"{list(obj)[:8]}); it is not a BaryIR checkpoint")
    potentials = next((obj[k] for k in POTENTIAL_KEYS if k in obj), None)
    epoch = obj.get("epoch")
    return network, potentials, epoch if isinstance(epoch, int) else None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _tensors(item, what: str, source) -> tuple[dict, str | None]:
    """The state dict of a pickled module record or a state dict, and the module's class."""
    if isinstance(item, Record):
        while item.cls.name in WRAPPERS:  # a pickled (Distributed)DataParallel: use its module
            inner = item.state.get("_modules", {}).get("module") if isinstance(item.state, dict) else None
            if not isinstance(inner, Record):
                break
            item = inner
        return module_state_dict(item), item.cls.qualname
    if _is_state_dict(item):
        return dict(item), None
    raise CheckpointError(f"{source}: the {what} is a {type(item).__name__}, neither a module nor a state dict")


def convert_released(path: str | Path, patch_size: int | None = None) -> tuple[dict, dict]:
    """Read a released BaryIR checkpoint safely and convert it to a ``baryir`` checkpoint.

    Parameters
    ----------
    path : str or Path
        A file of the released trainer (``{"epoch", "BaryIR", "Pots"}`` with pickled
        modules), of its DDP trainer, or a state dict of ``BaryNet(decoder=True)``.
    patch_size : int, optional
        Training patch size of the potentials (see :func:`map_potentials`).

    Returns
    -------
    checkpoint : dict
        Weights only (see the module docstring); ``checkpoint["model"]`` is the
        state dict of ``build_model("reference")``.
    info : dict
        ``epoch``, ``network_class``, ``tensors`` (mapped), ``dropped`` (unused
        released tensors), ``dropped_parameters``, ``potentials`` (their config or None).

    Raises
    ------
    UnsafeCheckpointError
        The file asks to run code; nothing was run.
    CheckpointError
        Not a BaryIR checkpoint, another model, missing/extra tensors or shapes (listed).
    """
    path = Path(path)
    network, potentials, epoch = _split(read_untrusted(path), path)
    released, network_class = _tensors(network, "network", path)
    if network_class not in (None, NETWORK_CLASS) and not network_class.endswith(".BaryNet"):
        raise CheckpointError(
            f"{path} holds a {network_class} network, not the released {NETWORK_CLASS}; "
            f"baryir's reference preset has BaryNet's layout only"
        )
    state, dropped = map_network(released, path)
    checkpoint = {"format": FORMAT, "model": state,
                  "model_config": config_from_preset("reference").to_dict(),
                  "source": {"file": path.name, "epoch": epoch, "network_class": network_class}}
    potentials_config = None
    if potentials is not None:
        checkpoint["potentials"], potentials_config = map_potentials(_tensors(potentials, "potentials", path)[0],
                                                                     patch_size, path)
        checkpoint["potentials_config"] = potentials_config
    info = {
        "epoch": epoch, "network_class": network_class, "tensors": len(state), "dropped": dropped,
        "dropped_parameters": sum(released_tensor.numel() for name, released_tensor in
                                  strip_module_prefix(released).items() if name in dropped),
        "potentials": potentials_config,
    }
    return checkpoint, info


def write_converted(source: str | Path, out: str | Path, patch_size: int | None = None) -> dict:
    """:func:`convert_released` ``source`` and save the checkpoint to ``out`` (atomically).

    Returns
    -------
    dict
        The conversion's ``info``.

    Raises
    ------
    CheckpointError
        As :func:`convert_released`; also when ``out`` is ``source`` (the original is kept).
    """
    source, out = Path(source), Path(out)
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        raise CheckpointError(f"OUT is the input file {source}; choose another name so the original is kept")
    checkpoint, info = convert_released(source, patch_size)
    save_checkpoint(checkpoint, out)
    return info


# --- command line ----------------------------------------------------------------------


def run_convert(args: argparse.Namespace) -> int:
    """``baryir convert-released IN OUT``."""
    info = write_converted(args.input, args.output, args.patch_size)
    potentials = info["potentials"]
    print(f"converted {args.input} ({info['network_class'] or 'state dict'}, epoch {info['epoch']}): "
          f"{info['tensors']} network tensors; dropped {len(info['dropped'])} unused "
          f"({info['dropped_parameters']:,} parameters)")
    if potentials:
        print(f"potentials: {potentials['n_sources']} sources, patch size {potentials['patch_size']}")
    print(f"wrote {args.output}; restore with: baryir restore --ckpt {args.output} IMAGES --out DIR")
    return 0


def register(subparsers) -> None:
    """Add ``baryir convert-released``."""
    parser = subparsers.add_parser(
        "convert-released", help="convert the authors' released checkpoint to a baryir checkpoint",
        description="Read a checkpoint of the authors' released BaryIR code (pickled model_bary modules or "
                    "a state dict) without running anything from it, and write a weights-only baryir "
                    "checkpoint of the 'reference' network for baryir restore / eval.")
    parser.add_argument("input", metavar="IN", help="released checkpoint (.pth / .pt)")
    parser.add_argument("output", metavar="OUT", help="baryir checkpoint to write")
    parser.add_argument("--patch-size", type=int, default=None,
                        help="training patch size of the potentials (default: read from their shapes)")
    parser.set_defaults(func=run_convert)
