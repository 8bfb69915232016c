"""Shared problem factory: random parameters and batches, fixed seeds, never zeros."""
import numpy as np

import fastrnn

#: Every mode of the public contract.
MODES = ("steps", "ignore", "lengths", "many_to_one", "dense", "a0", "a0_shared",
         "all")


def make_problem(mode="steps", *, I=7, H=5, O=None, B=3, T=4, dtype=np.float64,
                 seed=0):
    """(params, X, Y, a0, lengths) for one mode of the contract.

    Biases are random (init_params makes them zero) so that every term of
    every gradient is exercised.  "all" combines ignore, lengths, many-to-one
    is not combinable with per-step ignore, so "all" = dense inputs + ignored
    targets + lengths + given a0.
    """
    rng = np.random.default_rng(seed)
    O = I if O is None else O
    p = fastrnn.init_params(I, H, O, dtype=dtype, seed=seed)
    p["ba"] = rng.normal(0, 0.5, H).astype(dtype)
    p["by"] = rng.normal(0, 0.5, O).astype(dtype)
    # larger recurrent weights than the init: a state that matters over time
    p["Waa"] = rng.normal(0, 1.0 / np.sqrt(H), (H, H)).astype(dtype)
    dense = mode in ("dense", "all")
    if dense:
        X = rng.normal(size=(B, T, I)).astype(dtype)
    else:
        X = rng.integers(0, I, size=(B, T))
    Y = rng.integers(0, O, size=(B, T))
    a0 = lengths = None
    if mode in ("ignore", "all"):
        Y[rng.random((B, T)) < 0.3] = -1
        Y[0, -1] = 0  # at least one counted target
    if mode in ("lengths", "all"):
        lengths = rng.integers(1, T + 1, size=B)
        lengths[0] = T
    if mode == "many_to_one":
        Y = rng.integers(0, O, size=B)
        lengths = rng.integers(1, T + 1, size=B)
    if mode in ("a0", "all"):
        a0 = rng.normal(0, 0.5, (B, H)).astype(dtype)
    if mode == "a0_shared":
        a0 = rng.normal(0, 0.5, H).astype(dtype)
    return p, X, Y, a0, lengths

