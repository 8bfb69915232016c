"""Type stubs for fastrnn.optim's compiled one-pass loops (``_update.pyx``).

Each returns False (or None), touching nothing, for arrays it does not take;
optim then runs its NumPy code."""
from typing import Any

def sgd(p: Any, g: Any, v: Any, lr: float, momentum: float, nesterov: bool,
        weight_decay: float) -> bool:
    """One SGD step of one parameter in place (v: the velocity, or None)."""

def adagrad(p: Any, g: Any, G: Any, lr: float, eps: float) -> bool:
    """One Adagrad step of one parameter in place (G: accumulated squares)."""

def adam(p: Any, g: Any, m: Any, v: Any, beta1: float, beta2: float, eps: float,
         weight_decay: float, step_size: float, bias_correction2_sqrt: float) -> bool:
    """One Adam step of one parameter in place (m, v: the moments)."""

def sumsq(a: Any) -> float | None:
    """sum(a * a) in float64 of a contiguous float32/float64 array, or None."""

def clip(g: Any, bound: float) -> bool:
    """g = clip(g, -bound, bound) in place for a contiguous float array."""

def scale(g: Any, s: float) -> bool:
    """np.multiply(g, g.dtype.type(s), out=g) in place for a contiguous float array."""

def overlapping(arrays: Any) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of ndarrays whose byte extents overlap."""
