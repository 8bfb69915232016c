"""Type stubs for the compiled index checks (``_index.pyx``)."""
import numpy as np
from numpy.typing import NDArray

def first_outside(v: NDArray[np.intp], lo: int, hi: int) -> int:
    """Flat index of the first element of the 2-D C-contiguous intp array v
    outside [lo, hi), or -1 if none."""
