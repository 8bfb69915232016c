"""Type stubs for the compiled row-major BLAS wrapper (``_blas.pyx``)."""
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

_F = TypeVar("_F", np.float32, np.float64)

def gemm_(
    trans_a: bool,
    trans_b: bool,
    alpha: float,
    A: NDArray[_F],
    B: NDArray[_F],
    beta: float,
    C: NDArray[_F],
) -> None:
    """C := alpha * op(A) @ op(B) + beta * C, in place (C-contiguous arrays).

    A, B and C share one dtype (float32 or float64).  Raises ValueError when
    the shapes do not agree.
    """

def library() -> str:
    """Path of the OpenBLAS SciPy's BLAS calls go to ('' if not found)."""

def limitable() -> bool:
    """Whether BLAS's threads can be limited here (a pthreads OpenBLAS)."""

def num_threads() -> int:
    """BLAS's current thread setting (1 without threads); -1 if unreadable."""

def caller_threads() -> int:
    """The caller's BLAS setting, as num_threads() but while a call limits BLAS."""

def depth() -> int:
    """Callers inside OneBlasThread now (for tests)."""

class OneBlasThread:
    """Context manager: BLAS on one thread while any caller is inside."""

    def __enter__(self) -> OneBlasThread: ...
    def __exit__(self, *exc: object) -> None: ...
