"""Small helpers shared by several modules: integer-argument checks, atomic writes."""
from __future__ import annotations

import errno
import operator
import os
import stat
import tempfile
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

__all__ = ["check_int", "atomic_write"]


def check_int(value, name: str, minimum: int = 1, maximum: int | None = None, *,
              allow_bool: bool = False) -> int:
    """`value` as an int in [minimum, maximum], or an error naming `name`.

    Accepts anything with ``__index__`` (``int``, NumPy integers); rejects
    floats, strings and, unless `allow_bool`, ``bool``/``numpy.bool_``.

    Raises
    ------
    TypeError
        ``"NAME must be an integer, got VALUE"``.
    ValueError
        ``"NAME must be >= MIN, got N"`` (or ``<= MAX``).
    """
    if not allow_bool and isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    if maximum is not None and n > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {n}")
    return n


def _process_umask() -> int:
    """Return the current umask (best effort, without changing it if possible)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Write a file atomically: `write(f)` fills a temporary file, which replaces `path`.

    The temporary file is created in the directory of `path` (so that
    :func:`os.replace` is a rename on one file system), flushed and fsynced
    before the rename, and removed if anything fails, so `path` holds either
    its old content or the complete new one.  The new file keeps the
    permission bits of the file it replaces, or gets ``0o666 & ~umask`` (as
    :func:`open` would give) when `path` does not exist yet.  The directory is
    then fsynced (best effort) to make the rename durable.

    Raises
    ------
    FileNotFoundError
        For an empty path or one whose directory does not exist (naming
        `path`, not the temporary file).
    IsADirectoryError
        If `path` is a directory.
    OSError
        If `path` is something other than a regular file (a device such as
        /dev/null, a named pipe, a socket): the rename would replace it with
        a regular file.  For any other failure to write; `path` is left as it
        was.

    A symbolic link is followed: its target is written (atomically, in the
    target's directory) and the link stays.
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise FileNotFoundError("cannot write to an empty path")
    given = path
    if os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):  # else mkstemp's error would name the temporary file
        raise FileNotFoundError(f"cannot write {given!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {given!r}: it is a directory")
    try:
        st = os.stat(path)
    except OSError:
        mode = 0o666 & ~_process_umask()
    else:
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"cannot write {given!r}: it exists and is not a "
                          "regular file (a device, pipe or socket is never replaced)")
        mode = stat.S_IMODE(st.st_mode)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with open(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # best effort: make the rename durable
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def make_rng(seed, name: str = "seed") -> np.random.Generator:
    """``numpy.random.default_rng(seed)``, with errors that name the argument.

    Accepts what NumPy accepts: None, a non-negative int or a sequence of
    them, a ``SeedSequence``, a ``BitGenerator`` or a ``Generator``.
    """
    if isinstance(seed, (bool, np.bool_, float, str, bytes)):
        raise TypeError(f"{name} must be None, a non-negative integer or a "
                        f"numpy.random.Generator, got {seed!r}")
    try:
        return np.random.default_rng(seed)
    except TypeError:
        raise TypeError(f"{name} must be None, a non-negative integer or a "
                        f"numpy.random.Generator, got {seed!r}") from None
    except ValueError:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}") from None


class LengthMemoryError(ValueError, MemoryError):
    """A length whose arrays do not fit in memory: a ValueError naming the
    argument, and still the MemoryError NumPy would have raised."""


def alloc_draws(length: int, rng: np.random.Generator) -> tuple:
    """The output ids and the `length` uniforms of a sampling call, or a
    ValueError naming `length` when they do not fit in memory.  The
    uniforms come from ``rng.random(length)``, which a Generator subclass
    may override: anything but `length` float64 values in an ndarray is a
    TypeError naming the seed."""
    try:
        out, u = np.empty(length, dtype=np.intp), rng.random(length)
    except MemoryError:
        raise LengthMemoryError(f"length={length} needs {16 * length / 2**30:.1f} GiB for the ids "
                                "and uniforms; generate in shorter pieces, passing a0 on") from None
    except ValueError as exc:   # "array is too big": beyond what NumPy can allocate
        raise LengthMemoryError(f"length={length}: {exc}") from None
    if not (isinstance(u, np.ndarray) and u.dtype == np.float64 and u.shape == (length,)):
        got = (f"dtype {u.dtype}, shape {u.shape}" if isinstance(u, np.ndarray)
               else type(u).__name__)
        raise TypeError(f"seed: the generator's random({length}) returned {got}; "
                        f"expected {length} float64 values")
    return out, np.ascontiguousarray(u)
