"""Type stubs for the compiled generation kernel (``_sample.pyx``).

Only :mod:`fastrnn.sampling` calls :func:`sample`, after it has checked every
argument; nothing is checked again here.  Every floating parameter array has
the same dtype (float32 or float64); every array is C-contiguous.
"""
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

_F = TypeVar("_F", np.float32, np.float64)

def sample(
    WaxT: NDArray[_F],
    Waa: NDArray[_F],
    ba: NDArray[_F],
    Wya: NDArray[_F],
    by: NDArray[_F],
    prime: NDArray[np.intp],
    a0: NDArray[_F],
    temperature: float,
    top_k: int,
    stop_id: int,
    u: NDArray[np.float64],
    out: NDArray[np.intp],
) -> int:
    """Generate up to len(u) ids into out; returns how many were generated.

    Feeds prime first (no draws), then draws token t with u[t].  Stops after
    stop_id (-1: never) or len(u) tokens.  top_k = O keeps every class.
    """

# for the tests
def _exp_draw(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """exp(x) with the draw's exp (x <= 0 or NaN) as dispatched, a new array."""

def _matvec(W: NDArray[_F], a: NDArray[_F]) -> NDArray[_F]:
    """W @ a with the sampler's packed product, a new array."""

def _draw(z: NDArray[_F], by: NDArray[_F], temperature: float, top_k: int,
          u: float) -> int:
    """The class one token draws from the logits z + by (the kernel's steps)."""
