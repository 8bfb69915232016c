"""Checkpoints: a model, its vocabulary and its training state in one ``.npz``.

Layout of the archive (every entry a plain numeric or unicode array, so it is
read with ``numpy.load(path, allow_pickle=False)``):

==========================  =================================================
``format``                  0-d str ``"fastrnn.checkpoint"``
``version``                 0-d int64, :data:`FORMAT_VERSION`
``vocab``                   0-d str, the vocabulary as JSON
                            (:meth:`fastrnn.Vocabulary.to_dict`)
``hyperparams``             0-d str, JSON object
``step``                    0-d int64, training steps taken
``param.Wax`` ...           the five parameters (:data:`PARAM_KEYS`)
``a0``                      (H,) initial state (optional)
``opt.<key>``               optimizer state (``Optimizer.state_dict()``)
``meta``                    0-d str, JSON object of free-form training state
``array.<name>``            other arrays (e.g. the state carried by TBPTT)
==========================  =================================================

Saving is atomic: the archive is written to a temporary file in the target's
directory (named ``.<target>.<random>.tmp``), flushed and fsynced, then moved
onto the target with :func:`os.replace`, so the target always holds either
the old or the new checkpoint, never a partial one.  The temporary file is
removed if saving fails; a writer killed outright (SIGKILL, power loss) may
leave it behind, and it can be deleted.

Loading checks everything before any number is used: the file is a readable
zip archive, it is a fastrnn checkpoint of a version this code knows, no entry
is missing, the parameters have one float dtype and shapes consistent with
each other and with the vocabulary size.  Every error is a ``ValueError``
(``FileNotFoundError`` for a missing file) whose message names the path.

Examples
--------
>>> import os, tempfile, numpy as np, fastrnn
>>> from fastrnn.checkpoint import save_checkpoint, load_checkpoint
>>> vocab = fastrnn.Vocabulary.from_text("hello")
>>> params = fastrnn.init_params(len(vocab), 8, seed=0)
>>> with tempfile.TemporaryDirectory() as d:
...     path = os.path.join(d, "model.npz")
...     save_checkpoint(path, params, vocab, hyperparams={"hidden_size": 8}, step=3)
...     ckpt = load_checkpoint(path)
>>> ckpt.step, ckpt.vocab == vocab, ckpt.params["Waa"].shape
(3, True, (8, 8))
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._util import atomic_write, check_int
from ._validate import FLOAT_DTYPES, PARAM_KEYS, check_params
from .vocab import FORMAT_NAME as VOCAB_FORMAT_NAME
from .vocab import FORMAT_VERSION as VOCAB_FORMAT_VERSION
from .vocab import Vocabulary

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Checkpoint", "save_checkpoint",
           "load_checkpoint"]

#: Value of the ``format`` entry.
FORMAT_NAME = "fastrnn.checkpoint"
#: Newest version this module reads, and the version it writes.
FORMAT_VERSION = 1

_REQUIRED = ("format", "version", "vocab", "hyperparams", "step") + tuple(
    f"param.{k}" for k in PARAM_KEYS)


@dataclass
class Checkpoint:
    """The contents of a checkpoint file, checked.

    Attributes
    ----------
    path : str
        Where it was loaded from.
    params : dict of numpy.ndarray
        ``Wax``, ``Waa``, ``ba``, ``Wya``, ``by``, one float dtype.
    vocab : Vocabulary
    hyperparams : dict
    step : int
    a0 : numpy.ndarray or None
        (H,) initial state, in the parameters' dtype.
    optimizer_state : dict of numpy.ndarray
        As given to :func:`save_checkpoint` (``opt.`` prefix removed); empty
        if there was none.
    meta : dict
        Free-form JSON training state.
    arrays : dict of numpy.ndarray
        Other arrays (``array.`` prefix removed).

    Notes
    -----
    Thread safety: a plain record of fresh arrays, owned by the caller of
    :func:`load_checkpoint`.
    """
    path: str
    params: dict
    vocab: Vocabulary
    hyperparams: dict
    step: int
    a0: np.ndarray | None = None
    optimizer_state: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


def _json_str(obj, what: str) -> np.ndarray:
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serializable: {exc}") from None
    return np.array(text)  # 0-d unicode array; no object arrays


def _check_arrays(what: str, arrays) -> dict:
    if arrays is None:
        return {}
    if not isinstance(arrays, Mapping):
        raise TypeError(f"{what} must be a mapping of str -> array, got {type(arrays).__name__}")
    out = {}
    for k, v in arrays.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"{what} keys must be non-empty str, got {k!r}")
        a = np.asarray(v)
        if a.dtype.hasobject:
            raise TypeError(f"{what}[{k!r}] has dtype object; only numeric arrays are stored")
        out[k] = a
    return out


def save_checkpoint(path, params, vocab: Vocabulary, *, hyperparams=None, step: int = 0,
                    a0=None, optimizer_state=None, meta=None, arrays=None) -> None:
    """Write a checkpoint atomically (see the module docstring for the layout).

    Parameters
    ----------
    path : str or os.PathLike
        Target file; written exactly there (no ``.npz`` is appended) and
        replaced if it exists.
    params : dict of numpy.ndarray
        The five RNN parameters.
    vocab : Vocabulary
    hyperparams : dict, optional
        JSON-serializable settings (model size, optimizer name, ...).
    step : int, default 0
        Training steps taken.
    a0 : numpy.ndarray, optional
        (H,) initial state.
    optimizer_state : dict of numpy.ndarray, optional
        ``Optimizer.state_dict()``; stored with the prefix ``opt.``.
    meta : dict, optional
        JSON-serializable training state.
    arrays : dict of numpy.ndarray, optional
        Other numeric arrays; stored with the prefix ``array.``.

    Raises
    ------
    TypeError
        For a value that cannot be stored without pickle; nothing is written.
    ValueError
        For parameters :func:`load_checkpoint` would refuse (missing keys,
        mixed dtypes, inconsistent shapes, sizes other than the vocabulary's),
        a negative `step` or an `a0` unlike the parameters; nothing is written.
    OSError
        If the directory is not writable; the target is left untouched.

    Notes
    -----
    Thread safety: safe from several threads, also onto one path: each
    save writes its own temporary file and renames it atomically, so the
    path holds one complete checkpoint (the last renamed).  The arrays
    must not be written while they are saved.
    """
    if not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
    # what load_checkpoint would refuse is refused here, before anything is written
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in PARAM_KEYS if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}")
    p = check_params({k: params[k] for k in PARAM_KEYS})  # other keys are not stored
    V = len(vocab)
    if p.I != V or p.O != V:
        raise ValueError(f"params have input size I={p.I} and output size O={p.O}, but the "
                         f"vocabulary has {V} tokens; a language model needs I = O = {V}")
    step = check_int(step, "step", minimum=0)
    if a0 is not None:
        a0 = np.asarray(a0)
        if a0.shape != (p.H,) or a0.dtype != p.dtype:
            raise ValueError(f"a0 has shape {a0.shape} dtype {a0.dtype}; expected "
                             f"({p.H},) {p.dtype} (the parameters' hidden size and dtype)")
    entries: dict[str, Any] = {
        "format": np.array(FORMAT_NAME),
        "version": np.array(FORMAT_VERSION, dtype=np.int64),
        "vocab": _json_str(vocab.to_dict(), "vocab"),
        "hyperparams": _json_str({} if hyperparams is None else dict(hyperparams), "hyperparams"),
        "step": np.array(step, dtype=np.int64),
        "meta": _json_str({} if meta is None else dict(meta), "meta"),
    }
    for k in PARAM_KEYS:
        entries[f"param.{k}"] = np.asarray(params[k])
    if a0 is not None:
        entries["a0"] = np.asarray(a0)
    for k, v in _check_arrays("optimizer_state", optimizer_state).items():
        entries[f"opt.{k}"] = v
    for k, v in _check_arrays("arrays", arrays).items():
        entries[f"array.{k}"] = v

    atomic_write(path, lambda f: np.savez(f, **entries))


def _read_all(path: str) -> dict:
    """Every entry of the archive, read eagerly, or a ValueError naming `path`."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint file {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory, not a checkpoint file")
    bad = f"{path!r} is not a valid fastrnn checkpoint"
    try:
        data = np.load(path, allow_pickle=False)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except EOFError:
        raise ValueError(f"{bad}: the file is empty") from None
    except ValueError as exc:
        if "pickle" in str(exc):  # np.load's answer to a file that is neither .npy nor .npz
            raise ValueError(f"{bad}: it is not an .npz archive") from None
        raise ValueError(f"{bad}: {exc}") from None
    except Exception as exc:  # untrusted bytes: zipfile, zlib, struct errors alike
        raise ValueError(f"{bad}: the archive is corrupt or truncated "
                         f"({type(exc).__name__}: {exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{bad}: it is a single NumPy array (.npy), not an .npz archive")
    try:
        entries = {k: data[k] for k in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError(f"{bad}: it holds pickled objects, which are never loaded") from None
        raise ValueError(f"{bad}: {exc}") from None
    except Exception as exc:
        raise ValueError(f"{bad}: the archive is corrupt or truncated "
                         f"({type(exc).__name__}: {exc})") from None
    finally:
        data.close()
    for k, v in entries.items():
        if not isinstance(v, np.ndarray):   # NpzFile gives a member not in .npy format as bytes
            raise ValueError(f"{bad}: its member {k!r} is not a NumPy array (.npy)")
    return entries


def _json_entry(data: dict, key: str, path: str, *, required: bool = True):
    if key not in data:
        if required:
            raise ValueError(f"{path!r}: checkpoint has no {key!r} entry")
        return {}
    a = data[key]
    if a.shape != () or a.dtype.kind != "U":
        raise ValueError(f"{path!r}: checkpoint entry {key!r} must be a JSON string, "
                         f"got dtype {a.dtype} shape {a.shape}")
    try:
        obj = json.loads(str(a))
    except ValueError as exc:   # JSONDecodeError, or an integer past Python's 4300 digits
        raise ValueError(f"{path!r}: checkpoint entry {key!r} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path!r}: checkpoint entry {key!r} is JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path!r}: checkpoint entry {key!r} must be a JSON object")
    return obj


def _int_entry(data: dict, key: str, path: str) -> int:
    a = data[key]
    if a.shape != () or a.dtype.kind not in "iu":
        raise ValueError(f"{path!r}: checkpoint entry {key!r} must be a 0-d integer, "
                         f"got dtype {a.dtype} shape {a.shape}")
    return int(a)


def _vocab_from(obj: dict, path: str) -> Vocabulary:
    if obj.get("format") != VOCAB_FORMAT_NAME:
        raise ValueError(f"{path!r}: the checkpoint's vocabulary has format "
                         f"{obj.get('format')!r}, expected {VOCAB_FORMAT_NAME!r}")
    version = obj.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path!r}: unknown vocabulary version {version!r}")
    if version > VOCAB_FORMAT_VERSION:
        raise ValueError(f"{path!r}: vocabulary version {version} is newer than this "
                         f"fastrnn supports ({VOCAB_FORMAT_VERSION}); upgrade fastrnn")
    tokens = obj.get("tokens")
    if not isinstance(tokens, list):
        raise ValueError(f"{path!r}: the checkpoint's vocabulary has no token list")
    try:
        level: Any = obj.get("level")
        unk_token: Any = obj.get("unk_token")
        return Vocabulary(tokens, level=level, unk_token=unk_token)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: invalid vocabulary in checkpoint: {exc}") from None


def load_checkpoint(path) -> Checkpoint:
    """Read and check a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Checkpoint

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        Naming `path`: not a zip archive, corrupt or truncated, not a
        fastrnn checkpoint (no or another ``format``), a newer or unknown
        version, a missing entry, parameters of mixed or non-float dtypes,
        shapes inconsistent with each other or with the vocabulary size, an
        optimizer buffer shaped unlike its parameter.

    Notes
    -----
    Thread safety: safe from several threads; the arrays returned are
    fresh copies.  A load concurrent with a save to the same path reads
    the old or the new file, never a mix.
    """
    path = os.fspath(path)
    data = _read_all(path)
    if "format" not in data:
        raise ValueError(f"{path!r} is not a fastrnn checkpoint: the archive has no 'format' "
                         f"entry (entries: {sorted(data)[:8]})")
    fmt = data["format"]
    if fmt.shape != () or fmt.dtype.kind != "U" or str(fmt) != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a fastrnn checkpoint: format is "
                         f"{fmt.tolist()!r}, expected {FORMAT_NAME!r}")
    if "version" not in data:
        raise ValueError(f"{path!r}: checkpoint has no 'version' entry")
    version = _int_entry(data, "version", path)
    if version > FORMAT_VERSION:
        raise ValueError(f"{path!r}: checkpoint version {version} is newer than this fastrnn "
                         f"supports ({FORMAT_VERSION}); upgrade fastrnn")
    if version < 1:
        raise ValueError(f"{path!r}: unknown checkpoint version {version}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path!r}: checkpoint is missing entries {missing}")

    vocab = _vocab_from(_json_entry(data, "vocab", path), path)
    hyperparams = _json_entry(data, "hyperparams", path)
    meta = _json_entry(data, "meta", path, required=False)
    step = _int_entry(data, "step", path)
    if step < 0:
        raise ValueError(f"{path!r}: checkpoint step must be >= 0, got {step}")

    params = {k: data[f"param.{k}"] for k in PARAM_KEYS}
    dtype = params["Wax"].dtype
    for k, p in params.items():
        if p.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{path!r}: parameter {k} has dtype {p.dtype}; "
                             "expected float32 or float64")
        if p.dtype != dtype:
            raise ValueError(f"{path!r}: parameter {k} has dtype {p.dtype} but Wax has "
                             f"{dtype}; all parameters must share one dtype")
    if params["Wax"].ndim != 2 or params["Wya"].ndim != 2:
        raise ValueError(f"{path!r}: Wax and Wya must be 2-d, got shapes "
                         f"{params['Wax'].shape} and {params['Wya'].shape}")
    H, I = params["Wax"].shape
    O = params["Wya"].shape[0]
    V = len(vocab)
    expected = {"Wax": (H, V), "Waa": (H, H), "ba": (H,), "Wya": (V, H), "by": (V,)}
    for k, shape in expected.items():
        if params[k].shape != shape:
            raise ValueError(
                f"{path!r}: parameter {k} has shape {params[k].shape}, expected {shape} "
                f"(hidden size {H} from Wax, vocabulary size {V}; Wax has input size {I}, "
                f"Wya output size {O})")
    if H < 1:
        raise ValueError(f"{path!r}: hidden size must be >= 1, got {H}")
    a0 = data.get("a0")
    if a0 is not None and (a0.shape != (H,) or a0.dtype != dtype):
        raise ValueError(f"{path!r}: a0 has shape {a0.shape} dtype {a0.dtype}, expected "
                         f"({H},) {dtype}")

    shapes = {k: (p.shape, p.dtype) for k, p in params.items()}
    if a0 is not None:
        shapes["a0"] = (a0.shape, a0.dtype)
    opt = {}
    arrays = {}
    for key, value in data.items():
        if key.startswith("opt."):
            name = key[4:]
            prefix, _, pname = name.partition(".")
            if pname in shapes and value.shape != shapes[pname][0]:
                raise ValueError(f"{path!r}: optimizer entry {name!r} has shape {value.shape}, "
                                 f"expected {shapes[pname][0]} (the shape of {pname})")
            opt[name] = value
        elif key.startswith("array."):
            arrays[key[6:]] = value
    return Checkpoint(path=path, params=params, vocab=vocab, hyperparams=hyperparams,
                      step=step, a0=a0, optimizer_state=opt, meta=meta, arrays=arrays)
