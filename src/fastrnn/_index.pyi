"""Type stubs for the compiled parts of the validation gate (``_index.pyx``)."""
from typing import Any

import numpy as np
from numpy.typing import NDArray

def first_outside(v: NDArray[np.intp], lo: int, hi: int) -> int:
    """Flat index of the first element of the 2-D C-contiguous intp array v
    outside [lo, hi), or -1 if none."""

def fast_batch(params: Any, X: Any, Y: Any, a0: Any, lengths: Any, need_Y: bool,
               batch_cls: type, params_cls: type) -> Any:
    """``_validate.check_batch`` for the usual case, built as `batch_cls`
    (Batch) and `params_cls` (Params), or None when not handled (the Python
    path then decides, and raises)."""
