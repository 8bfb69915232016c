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
