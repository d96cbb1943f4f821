"""Read a PyTorch checkpoint file without running anything it contains.

``torch.save`` writes a zip archive: ``<root>/data.pkl`` (a pickle of the saved
object in which every tensor refers to a storage by key) and ``<root>/data/<key>``
(the raw bytes of each storage). Unpickling ``data.pkl`` normally imports every
class it names and calls whatever function it asks for, so a file of whole pickled
modules (as the released BaryIR trainer writes) needs the authors' code installed,
and a crafted file can run any command (``torch.load(..., weights_only=False)``).

:func:`read_untrusted` unpickles with a restricted unpickler instead:

- **Admitted** are the names that rebuild tensors and plain containers
  (:data:`ADMITTED`): ``torch._utils._rebuild_tensor_v2`` and its parameter
  variants, ``collections.OrderedDict``, ``set``, ``torch.Size``, dtypes and
  storage types. They map to this module's own implementations, never to the
  objects the file names.
- **Every other class** becomes an inert :class:`Record` when the pickle creates an
  instance of it (``NEWOBJ``, the way objects are pickled): the record keeps the
  class name, the constructor arguments and the state (``BUILD``, i.e. the
  object's ``__dict__``), so the tensors of a pickled ``nn.Module`` can be
  collected from its ``_parameters``, ``_buffers`` and ``_modules``
  (:func:`module_state_dict`). Nothing of the class is imported.
- **Any call of a name that is not admitted** (``REDUCE``, ``INST``, ``OBJ``: how a
  malicious file runs ``os.system(...)``, ``builtins.eval(...)``, ...) is refused
  with :class:`baryir.errors.UnsafeCheckpointError` before anything is called.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from baryir.errors import CheckpointError, UnsafeCheckpointError

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128, "UntypedStorage": torch.uint8,
}


@dataclass(frozen=True)
class Global:
    """A name the pickle refers to (``module.name``) and that is not admitted; never imported."""

    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Record:
    """Inert stand-in for an instance of a class that is not admitted.

    Attributes
    ----------
    cls : Global
        The class the file names (e.g. ``model_bary.BaryNet``).
    args : tuple
        Arguments the pickle passes to ``cls.__new__`` (empty for ``nn.Module``).
    state : Any
        What the pickle's ``BUILD`` sets (a module's ``__dict__``), or None.
    """

    cls: Global
    args: tuple = ()
    state: Any = None

    def __repr__(self) -> str:
        return f"<record of {self.cls.qualname}>"


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


@dataclass(frozen=True)
class _TensorType:
    """``torch.Tensor`` or ``torch.nn.Parameter`` as named by ``_rebuild_from_type_v2``."""

    name: str


@dataclass
class _Storage:
    dtype: torch.dtype
    data: torch.UntypedStorage = field(repr=False)


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """``torch._utils._rebuild_tensor_v2``: a tensor viewing ``storage`` (bounds checked)."""
    if not isinstance(storage, _Storage):
        raise UnsafeCheckpointError(f"a tensor refers to {type(storage).__name__}, not to a storage")
    try:
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        return torch.empty(0, dtype=storage.dtype).set_(storage.data, int(offset), size, stride)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"a tensor does not fit its storage ({err})") from None


def _rebuild_legacy_tensor(storage, offset, size, stride):
    """``torch._utils._rebuild_tensor`` (files of older PyTorch versions)."""
    return _rebuild_tensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """``torch._utils._rebuild_parameter`` (and ``_with_state``): the parameter's tensor."""
    if not isinstance(data, torch.Tensor):
        raise UnsafeCheckpointError(f"a parameter holds {type(data).__name__}, not a tensor")
    return data


def _rebuild_from_type(func, new_type, args, state=None):
    """``torch._tensor._rebuild_from_type_v2`` for plain tensors and parameters only."""
    if func not in _REBUILDERS or not isinstance(new_type, _TensorType):
        raise UnsafeCheckpointError(f"refused to rebuild a tensor of type {new_type!r} with {func!r}")
    return func(*args)


def _encode(text, encoding="latin1"):
    """``_codecs.encode``: how protocol 2 pickles ``bytes``; latin-1 text only."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafeCheckpointError("refused _codecs.encode on anything but latin-1 text")
    return text.encode("latin1")


_REBUILDERS = (_rebuild_tensor, _rebuild_legacy_tensor, _rebuild_parameter)

#: ``(module, name)`` -> what the unpickler uses for it. Everything else is a :class:`Global`.
ADMITTED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_legacy_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "Tensor"): _TensorType("Tensor"),
    ("torch.nn.parameter", "Parameter"): _TensorType("Parameter"),
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): _encode,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
    **{("torch", str(dtype).removeprefix("torch.")): dtype for dtype in set(_STORAGE_DTYPES.values())},
}
_CALLABLE = {id(v) for v in ADMITTED.values() if callable(v) and not isinstance(v, torch.dtype)}


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcodes can be overridden
    """Unpickler of ``data.pkl`` that admits :data:`ADMITTED` and records every other class."""

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, storages: dict[str, _Storage], read_storage):
        super().__init__(file, encoding="utf-8")
        self._storages, self._read_storage = storages, read_storage

    def find_class(self, module: str, name: str) -> Any:
        return ADMITTED.get((module, name), Global(module, name))

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"unknown persistent reference {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError(f"storage of unknown type {storage_type!r}")
        if key not in self._storages:
            self._storages[key] = _Storage(storage_type.dtype, self._read_storage(key))
        return _Storage(storage_type.dtype, self._storages[key].data)

    def _refuse_call(self, func, args) -> None:
        name = func.qualname if isinstance(func, Global) else repr(func)
        raise UnsafeCheckpointError(
            f"the file asks to call {name}{_short(args)} while it is read; refused, nothing was run. "
            f"Only tensors, plain containers and records of classes are read from a checkpoint"
        )

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in _CALLABLE:
            self._refuse_call(func, args)
        if not isinstance(args, tuple):
            raise UnsafeCheckpointError(f"malformed call of {func!r}")
        self.stack[-1] = func(*args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._record(cls, args))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._record(cls, (*args, *kwargs.items())))

    def _record(self, cls, args) -> Record:
        if not isinstance(cls, Global):
            raise UnsafeCheckpointError(f"refused to create an instance of {cls!r} without calling it")
        return Record(cls, tuple(args))

    def load_inst(self):
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        self._refuse_call(self.find_class(module, name), tuple(self.pop_mark()))

    def load_obj(self):
        args = self.pop_mark()
        self._refuse_call(args[0], tuple(args[1:]))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, Record):
            inst.state = state
        elif type(inst) is OrderedDict and isinstance(state, dict):  # a state dict's ``_metadata``
            for key, value in state.items():
                if isinstance(key, str) and key.isidentifier():
                    setattr(inst, key, value)
        else:
            raise UnsafeCheckpointError(f"refused to set the state of a {type(inst).__name__}")

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.INST[0]] = load_inst
    dispatch[pickle.OBJ[0]] = load_obj
    dispatch[pickle.BUILD[0]] = load_build


def _short(args) -> str:
    text = repr(args)
    return text if len(text) <= 80 else text[:77] + "...)"


def read_untrusted(path: str | Path) -> Any:
    """The object saved in a ``torch.save`` file, read without running code from it.

    Parameters
    ----------
    path : str or Path
        A file written by ``torch.save`` (zip format, PyTorch >= 1.6).

    Returns
    -------
    object
        Dicts, lists, tuples, scalars, strings, CPU tensors (whatever device they
        were saved from) and a :class:`Record` for each object of another class.

    Raises
    ------
    UnsafeCheckpointError
        The file asks to call a function that is not admitted (nothing is called).
    CheckpointError
        Missing file, not a ``torch.save`` zip archive, or damaged content.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a torch.save archive (a zip file; PyTorch >= 1.6 writes one by default); "
            f"files in PyTorch's legacy format cannot be read safely, re-save them with a recent PyTorch"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            pickles = sorted(n for n in names if n.count("/") == 1 and n.endswith("/data.pkl"))
            if len(pickles) != 1:
                raise CheckpointError(f"{path} is a zip file but not a torch.save archive (no <root>/data.pkl)")
            root = pickles[0][: -len("data.pkl")]
            byteorder = archive.read(root + "byteorder").decode() if root + "byteorder" in names else "little"
            if byteorder != "little":
                raise CheckpointError(f"{path} was saved on a big-endian machine; this reader handles little-endian only")

            def read_storage(key: str) -> torch.UntypedStorage:
                name = f"{root}data/{key}"
                if name not in names:
                    raise CheckpointError(f"{path}: the archive lacks the storage {key!r}; the file is damaged")
                buffer = bytearray(archive.getinfo(name).file_size)
                with archive.open(name) as handle:
                    handle.readinto(buffer)
                if not buffer:
                    return torch.UntypedStorage(0)
                return torch.frombuffer(buffer, dtype=torch.uint8).untyped_storage()

            data = io.BytesIO(archive.read(pickles[0]))
            return _RestrictedUnpickler(data, {}, read_storage).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as err:
        raise CheckpointError(f"{path} is damaged ({type(err).__name__}: {err})") from None
    except (TypeError, AttributeError) as err:  # e.g. appending to a record
        raise UnsafeCheckpointError(f"{path} holds a structure this reader refuses ({err})") from None


def module_state_dict(record: Record, prefix: str = "") -> dict[str, torch.Tensor]:
    """The ``state_dict()`` of a pickled ``nn.Module``, from its record.

    Parameters, then persistent buffers, then the submodules' entries with dotted
    names, in registration order, exactly as ``nn.Module.state_dict`` lists them.

    Raises
    ------
    CheckpointError
        If ``record`` is not the record of a module (no ``_parameters``/``_modules``).
    """
    state = record.state
    if not (isinstance(state, dict) and isinstance(state.get("_parameters"), dict)
            and isinstance(state.get("_modules"), dict)):
        raise CheckpointError(f"{record.cls.qualname} is not a pickled torch module (no _parameters/_modules)")
    tensors: dict[str, torch.Tensor] = {}
    for name, value in state["_parameters"].items():
        if value is not None:
            tensors[prefix + name] = _tensor(value, record, name)
    skipped = state.get("_non_persistent_buffers_set") or set()
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skipped:
            tensors[prefix + name] = _tensor(value, record, name)
    for name, child in state["_modules"].items():
        if child is not None:
            if not isinstance(child, Record):
                raise CheckpointError(f"{record.cls.qualname}.{name} is a {type(child).__name__}, not a module")
            tensors.update(module_state_dict(child, f"{prefix}{name}."))
    return tensors


def _tensor(value, record: Record, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{record.cls.qualname}.{name} holds a {type(value).__name__}, not a tensor")
    return value
