"""Python entry point to the row-major BLAS wrapper, for tests."""
from cython cimport floating


def gemm_(bint trans_a, bint trans_b, double alpha,
          const floating[:, ::1] A, const floating[:, ::1] B,
          double beta, floating[:, ::1] C):
    """C := alpha * op(A) @ op(B) + beta * C, in place (C-contiguous arrays).

    Shapes are checked here because this function is public to the tests.
    """
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int kb = B.shape[1] if trans_b else B.shape[0]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if k != kb or C.shape[0] != m or C.shape[1] != n:
        raise ValueError(
            f"gemm_: op(A) is {m}x{k}, op(B) is {kb}x{n}, C is "
            f"{C.shape[0]}x{C.shape[1]}")
    if m == 0 or n == 0:
        return
    # an empty operand has no element to point at
    cdef const floating* pa = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    cdef const floating* pb = &B[0, 0] if B.shape[0] * B.shape[1] else NULL
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating> alpha, pa, max(A.shape[1], 1),
             pb, max(B.shape[1], 1), <floating> beta, &C[0, 0], C.shape[1])


# ---------------------------------------------------------------------------
# BLAS on one thread for the duration of a call (see _api._blas_threads).
#
# The kernels' BLAS is the library behind scipy.linalg.cython_blas: its
# OpenBLAS thread functions are looked up (dlsym) in the dependencies of the
# module that holds cython_blas's sgemm (dladdr), which is where its BLAS
# calls go; NumPy's own OpenBLAS, if any, is left alone.
# The count of callers inside lives in C and changes under the GIL with no
# Python code in between, so a signal handler that calls fastrnn in the
# middle of a call, an exception raised by one (KeyboardInterrupt), or
# another Python thread cannot see it half changed, and there is no lock to
# deadlock on.  A forked child starts with no caller inside and the parent's
# setting back (_after_fork_in_child).  threadpoolctl, which did this before,
# took ~13 us a call, held Python locks (a handler or a fork in the middle
# hung), and changes OpenBLAS from one "controlling" Python thread only.
from scipy.linalg.cython_blas cimport sgemm as _sgemm

cdef extern from "<dlfcn.h>" nogil:
    ctypedef struct Dl_info:
        const char* dli_fname
    int dladdr(const void* addr, Dl_info* info)
    void* dlopen(const char* filename, int flags)
    void* dlsym(void* handle, const char* symbol)
    int RTLD_LAZY
    int RTLD_NOLOAD

ctypedef int (*_get_fn)() noexcept nogil
ctypedef void (*_set_fn)(int) noexcept nogil

cdef _get_fn _get_threads = NULL   # NULL: SciPy's BLAS is not a threaded OpenBLAS we know
cdef _set_fn _set_threads = NULL
cdef bint _serial = False          # an OpenBLAS built without threads
cdef int _depth = 0                # callers inside OneBlasThread
cdef int _saved = 0                # the caller's setting, restored when the last one leaves
cdef bytes _library = b""


cdef void _find() noexcept:
    """Look up SciPy's OpenBLAS thread functions (once, at import)."""
    global _get_threads, _set_threads, _library, _serial
    cdef Dl_info info
    cdef void* handle
    cdef _get_fn parallel
    cdef void* get
    cdef void* put
    cdef void* par
    cdef bytes name
    if dladdr(<const void*> _sgemm, &info) == 0 or info.dli_fname == NULL:
        return
    handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD)
    if handle == NULL:
        return
    for prefix in (b"", b"scipy_"):
        for suffix in (b"", b"64_", b"_64"):
            name = prefix + b"openblas_get_num_threads" + suffix
            get = dlsym(handle, name)
            name = prefix + b"openblas_set_num_threads" + suffix
            put = dlsym(handle, name)
            name = prefix + b"openblas_get_parallel" + suffix
            par = dlsym(handle, name)
            if get == NULL or put == NULL or par == NULL:
                continue
            parallel = <_get_fn> par
            # 1: OpenBLAS's own pthreads, one process-wide setting.  0 has no
            # threads to limit; 2 (OpenMP) keeps a setting per calling thread,
            # which a process-wide count cannot restore.
            if dladdr(get, &info) != 0 and info.dli_fname != NULL:
                _library = info.dli_fname
            if parallel() == 1:
                _get_threads = <_get_fn> get
                _set_threads = <_set_fn> put
            _serial = parallel() == 0
            return


_find()


def library():
    """Path of the OpenBLAS SciPy's BLAS calls go to ('' if not found)."""
    return _library.decode(errors="replace")


def limitable():
    """Whether BLAS's threads can be limited here (a pthreads OpenBLAS)."""
    return _get_threads != NULL


def num_threads():
    """BLAS's current thread setting (1 for an OpenBLAS without threads); -1
    if it cannot be read."""
    if _get_threads != NULL:
        return _get_threads()
    return 1 if _serial else -1


def caller_threads():
    """The caller's BLAS setting: num_threads(), or while a call holds BLAS
    on one thread, the setting it will restore (so that what a call plans
    does not depend on other threads' calls)."""
    if _get_threads != NULL and _depth > 0:
        return _saved
    return num_threads()


def depth():
    """Callers inside _OneBlasThread now (for tests)."""
    return _depth


cdef void _leave() noexcept:
    """The last caller out: the caller's setting back, unless someone changed
    it meanwhile (set anything but the 1 set here): that change is kept."""
    if _saved > 1 and _get_threads() == 1:
        _set_threads(_saved)


def _after_fork_in_child():
    """In a forked child no caller is inside: the count starts at 0 and the
    setting saved by the parent's callers comes back."""
    global _depth
    if _depth > 0:
        _depth = 0
        if _get_threads != NULL:
            _leave()


import os as _os
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)


cdef class OneBlasThread:
    """Context manager: BLAS on one thread while any caller is inside.

    Counted in C under the GIL (see above): the first caller in saves the
    setting and sets one thread, the last one out restores it if it is still
    one thread.  Does nothing where BLAS cannot be limited.  A limit set by
    other code (threadpoolctl) while a call is inside saves this one thread
    as its "original" and restores it; fastrnn cannot see that.
    """

    def __enter__(self):
        global _depth, _saved
        if _get_threads != NULL:
            if _depth == 0:
                _saved = _get_threads()
                if _saved > 1:
                    _set_threads(1)
            _depth += 1
        return self

    def __exit__(self, *exc):
        global _depth
        if _get_threads != NULL and _depth > 0:
            _depth -= 1
            if _depth == 0:
                _leave()
        return None
