"""Every float32 in a range through the kernels' tanh, against the correctly
rounded value: how many are exact, 1 ulp, 2 ulp, ... off.

    PYTHONPATH=src python tools/tanh_ulp.py [LO HI]     # default [0, 11)

The tests check three binades of every float and a dense sample of the rest
(tests/test_rowops.py); this is the whole range, for a change to fr_tanhf in
_rowops.h (past |x| = 9.01 tanh rounds to +-1, and the function is odd).
It runs the clone the loader picks for this CPU; build with
FASTRNN_NO_AVX512=1 or FASTRNN_NO_CLONES=1 to check the others.  About a
15 s for [0, 11) (1.09e9 floats, NumPy's float64 tanh as the reference).
"""
import sys

import numpy as np

from fastrnn._kernels import _fast_tanhf

CHUNK = 1 << 24


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    lo, hi = (float(argv[0]), float(argv[1])) if argv else (0.0, 11.0)
    b0 = int(np.float32(lo).view(np.int32))
    b1 = int(np.float32(hi).view(np.int32))
    if not (0 <= b0 < b1):
        sys.exit("tanh_ulp.py: need 0 <= LO < HI")
    counts = np.zeros(4, np.int64)   # 0, 1, 2, 3 or more ulp
    worst, worst_x = -1, None
    for start in range(b0, b1, CHUNK):
        x = np.arange(start, min(start + CHUNK, b1), dtype=np.int32).view(np.float32)
        got = x.copy()
        _fast_tanhf(got)
        want = np.tanh(x.astype(np.float64)).astype(np.float32)
        ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32))
        counts += np.bincount(np.minimum(ulps, 3), minlength=4)
        i = int(np.argmax(ulps))
        if ulps[i] > worst:
            worst, worst_x = int(ulps[i]), float(x[i])
    total = counts.sum()
    print(f"tanh over every float32 in [{lo:g}, {hi:g}): {total} floats")
    for k, c in enumerate(counts):
        label = f"{k} ulp" if k < 3 else ">= 3 ulp"
        print(f"  {label:>8}: {c:>12} ({c / total:.4%})")
    print(f"  worst: {worst} ulp at x = {worst_x!r}")
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
