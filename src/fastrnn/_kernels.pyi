"""Type stubs for the compiled Cython + BLAS kernels (``_kernels.pyx``).

Only :mod:`fastrnn._api` calls these.  :func:`forward` and
:func:`loss_and_grads` run after :mod:`fastrnn._validate` has checked every
argument (they check only that they were handed such arrays): every floating
array of one call has the same dtype (float32 or float64, Cython's
``floating`` fused type); every array is C-contiguous.  :func:`forward_ids`
and :func:`loss_and_grads_ids` take the public call's own arguments and check
the usual small call themselves.
"""
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

_F = TypeVar("_F", np.float32, np.float64)

def forward(
    WaxT: NDArray[_F],
    Waa: NDArray[_F],
    ba: NDArray[_F],
    Wya: NDArray[_F],
    by: NDArray[_F],
    ids: NDArray[np.intp],
    dense: NDArray[_F],
    lengths: NDArray[np.intp],
    a0: NDArray[_F],
    probs: NDArray[_F] | None = None,
    A: NDArray[_F] | None = None,
    a_last: NDArray[_F] | None = None,
    blas_steps: bool = False,
    threads: int = 0,
) -> tuple[NDArray[_F], NDArray[_F]]:
    """probs (B, T, O), A (B, T, H) and a_last (B, H), written in place;
    returns (probs, A).  probs or A None: made here; a_last None: not written.

    Exactly one of ids (B, T) / dense (B, T, I) is non-empty.  blas_steps:
    the per-step products by BLAS (which may use several threads) instead of
    the kernels' own packed product.  threads: the kernels' threads (0:
    decided from the size, get_num_threads and the busy-machine backoff).
    """

def loss_and_grads(
    WaxT: NDArray[_F],
    Waa: NDArray[_F],
    ba: NDArray[_F],
    Wya: NDArray[_F],
    by: NDArray[_F],
    ids: NDArray[np.intp],
    dense: NDArray[_F],
    Y: NDArray[np.intp],
    lengths: NDArray[np.intp],
    a0: NDArray[_F],
    dWaxT: NDArray[_F] | None = None,
    dWaa: NDArray[_F] | None = None,
    dba: NDArray[_F] | None = None,
    dWya: NDArray[_F] | None = None,
    dby: NDArray[_F] | None = None,
    da0: NDArray[_F] | None = None,
    a_last: NDArray[_F] | None = None,
    blas_steps: bool = False,
    threads: int = 0,
    blas_serial: bool = False,
) -> tuple[float, NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F],
           NDArray[_F], NDArray[_F]]:
    """Summed cross-entropy; gradients and a_last written in place (those
    given as None are made here); returns (loss, dWaxT, dWaa, dba, dWya, dby,
    da0, a_last).

    dWaxT is (I, H) = dWax.T.  Exactly one of ids / dense is non-empty.
    blas_steps, threads: as in forward.  blas_serial: BLAS runs on one thread
    during this call, so that the batched gradients' two halves may run side
    by side.
    """

def forward_ids(
    params: object, X: object, a0: object, max_bhh: int
) -> tuple[NDArray[Any], NDArray[Any]] | None:
    """``fastrnn.forward(params, X, a0)`` for the usual small call (plain
    ndarrays: intp token ids (B, T), init_params's layout, a0 None, (B, H) or (H,),
    B*H*H < max_bhh); None for anything else, out-of-range ids included (the
    gate then decides and raises)."""

def loss_and_grads_ids(
    params: object, X: object, Y: object, a0: object, max_bhh: int
) -> tuple[float, dict[str, NDArray[Any]], NDArray[Any]] | None:
    """``fastrnn.loss_and_grads(params, X, Y, a0)`` for the usual small call
    (as forward_ids; Y intp targets (B, T)); None for anything else."""

def uses_blas(grads: bool, dense: bool, B: int, T: int, I: int, H: int, O: int,
              itemsize: int) -> bool:
    """Whether a call of these sizes calls BLAS (per-step products the kernels' own)."""

def get_num_threads() -> int:
    """Threads a call of the kernels may use."""

def set_num_threads(n: int) -> int:
    """Let calls use up to n threads (n < 1: the default); returns the
    previous limit."""

def par_min_bhh() -> int:
    """B*H*H from which the kernels use several threads."""

def _threads_for(B: int, H: int, threads: int, blas_steps: bool) -> int:
    """The kernels' thread count for this call (tests)."""

def _set_spin(n: int) -> int:
    """Microseconds spun at a barrier before sleeping; returns the previous value."""

def _set_backoff(on: bool) -> bool:
    """Switch the busy-machine backoff on or off; returns the previous setting."""

def _note_call(call_ns: int, wait_ns: int, start_ns: int = -1, nt: int = 2) -> bool:
    """Record a threaded call; True if it starts a backoff (tests)."""

def _backing_off() -> bool:
    """Whether calls run on one thread now (busy-machine backoff)."""

def _last_call() -> tuple[int, int]:
    """(duration, waits) in ns of this thread's last automatic threaded call."""

_WORK_CACHE: bool

def _set_workspace_buffer(dtype: str, obj: object) -> None:
    """Put obj where this thread's workspace for dtype is kept (for tests)."""

def _workspace_buffer(dtype: str) -> NDArray[Any] | None:
    """This thread's cached kernel workspace for "float32" or "float64", or
    None (for tests)."""

def _packed_layout(W: NDArray[_F], trans_w: bool) -> NDArray[_F]:
    """op(W) as the kernels pack it for their own product (for tests)."""

def _fast_tanhf(x: NDArray[np.float32]) -> None:
    """In place x = tanh(x) with the float32 kernel approximation (for tests)."""

def _fast_tanhd(x: NDArray[np.float64]) -> None:
    """In place x = tanh(x) with the float64 kernel row function (for tests)."""

def _fast_tanh_vec(x: NDArray[_F]) -> None:
    """In place x = tanh(x) with the recurrence's vector function (for tests)."""

def _fast_expf(x: NDArray[np.float32]) -> None:
    """In place x = exp(x) with the float32 kernel approximation (for tests)."""
