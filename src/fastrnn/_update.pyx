"""One-pass elementwise loops for fastrnn.optim: the optimizers' updates,
clipping by value, scaling (the mean over tokens, clipping by norm) and the
sums of squares of the gradient norm.

An optimizer step in NumPy is up to 13 ufunc calls per parameter, each a
Python call and a pass over the array: at the course's size (8,004
parameters) Adam took 54 µs a step against the training step's 18 µs.  Here
each parameter takes one call and one pass (_update.h, vectorised and built
per CPU like the row functions), with the same operations in the same order
and the same dtype as optim's NumPy code (each intermediate rounded to the
dtype; this module is compiled without contraction into fused multiply-adds,
-ffp-contract=off in setup.py), so the parameters and the optimizer's state
come out the same, bit for bit (tests/test_optim.py holds the two paths
equal), NaNs aside: which of two NaNs an operation passes on (its sign and
payload) depends on the operands' order inside an instruction, which gcc
and NumPy's loops choose differently.

Each function returns False (sumsq: None), touching nothing, unless every
array is an aligned ndarray (exactly: subclasses such as masked arrays keep
their own ufunc behaviour) of the parameter's float dtype (in the machine's
byte order) and shape, contiguous in the parameter's memory order (C, or
Fortran for a Fortran-ordered parameter), the written ones writeable, no two
sharing memory: optim then runs its NumPy code, which takes any layout.
"""
cimport numpy as cnp

cnp.import_array()
cnp.import_ufunc()


# Floating-point errors (overflow, invalid, divide by zero, underflow) are
# reported as the ufunc calls report theirs: the loop's exception flags are
# cleared before it and read after it, and NumPy applies its error state
# (np.errstate / np.seterr: warn, raise, ignore, call) to them, naming the
# optimizer ("overflow encountered in adam").  One difference: where the ufunc
# calls raise part way through a parameter's update, the loop has finished
# it.  The module is compiled with -ftrapping-math (setup.py), so that gcc
# does not compute, ahead of a branch, operations whose flags NumPy's calls
# would not raise.
cdef extern from "<fenv.h>" nogil:
    int feclearexcept(int excepts)
    int fetestexcept(int excepts)
    int FE_DIVBYZERO
    int FE_OVERFLOW
    int FE_UNDERFLOW
    int FE_INVALID

cdef extern from "numpy/ufuncobject.h":
    int PyUFunc_GiveFloatingpointErrors(const char* name, int fpe_errors) except -1


cdef inline void _fpe_clear() noexcept nogil:
    feclearexcept(FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID)


cdef inline int _npy_fpe(int f) noexcept nogil:
    """fetestexcept's bits as NumPy's NPY_FPE_* bits."""
    return ((1 if f & FE_DIVBYZERO else 0) | (2 if f & FE_OVERFLOW else 0)
            | (4 if f & FE_UNDERFLOW else 0) | (8 if f & FE_INVALID else 0))


cdef inline int _fpe_flags() noexcept nogil:
    """The exception flags raised since _fpe_clear, as NumPy's NPY_FPE_* bits."""
    return _npy_fpe(fetestexcept(FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID))


cdef int _report(int flags, const char* name) except -1:
    """NumPy's error state applied to flags: a warning, an exception, or nothing."""
    if flags:
        PyUFunc_GiveFloatingpointErrors(name, flags)
    return 0


cdef extern from "_update.h" nogil:
    void fr_sgd_f(Py_ssize_t n, float* p, const float* g, float* v, float lr, float mu,
                  int nesterov, float wd, int use_wd)
    void fr_sgd_d(Py_ssize_t n, double* p, const double* g, double* v, double lr,
                  double mu, int nesterov, double wd, int use_wd)
    void fr_adagrad_f(Py_ssize_t n, float* p, const float* g, float* G, float lr, float eps)
    void fr_adagrad_d(Py_ssize_t n, double* p, const double* g, double* G, double lr,
                      double eps)
    void fr_adam_f(Py_ssize_t n, float* p, const float* g, float* m, float* v, float b1,
                   float c1, float b2, float c2, float bc2, float eps, float step, float wd,
                   int use_wd)
    void fr_adam_d(Py_ssize_t n, double* p, const double* g, double* m, double* v,
                   double b1, double c1, double b2, double c2, double bc2, double eps,
                   double step, double wd, int use_wd)
    void fr_clip_f(Py_ssize_t n, float* g, float b)
    void fr_clip_d(Py_ssize_t n, double* g, double b)
    void fr_scale_f(Py_ssize_t n, float* g, float s)
    void fr_scale_d(Py_ssize_t n, double* g, double s)
    int fr_to_float(const double* x, float* out, int n)
    double fr_sumsq_f(Py_ssize_t n, const float* x)
    double fr_sumsq_d(Py_ssize_t n, const double* x)


cdef inline bint _order(cnp.ndarray a, bint fortran) noexcept:
    return cnp.PyArray_IS_F_CONTIGUOUS(a) if fortran else cnp.PyArray_IS_C_CONTIGUOUS(a)


cdef int _like(object a, cnp.ndarray p, bint fortran, bint write) noexcept:
    """a is an aligned ndarray with p's dtype (native byte order) and shape,
    contiguous in p's order, writeable if write."""
    cdef cnp.ndarray x
    cdef int d
    if not cnp.PyArray_CheckExact(a):
        return 0
    x = <cnp.ndarray> a
    if (cnp.PyArray_TYPE(x) != cnp.PyArray_TYPE(p) or cnp.PyArray_NDIM(x) != cnp.PyArray_NDIM(p)
            or not cnp.PyArray_ISALIGNED(x) or not cnp.PyArray_ISNOTSWAPPED(x)
            or not _order(x, fortran)
            or (write and not cnp.PyArray_ISWRITEABLE(x))):
        return 0
    for d in range(cnp.PyArray_NDIM(p)):
        if cnp.PyArray_DIMS(x)[d] != cnp.PyArray_DIMS(p)[d]:
            return 0
    return 1


cdef inline bint _apart(object a, object b) noexcept:
    """a's bytes and b's (both contiguous, or either None) do not overlap."""
    if a is None or b is None:
        return True
    cdef char* a0 = <char*> cnp.PyArray_DATA(<cnp.ndarray> a)
    cdef char* b0 = <char*> cnp.PyArray_DATA(<cnp.ndarray> b)
    return (a0 + cnp.PyArray_NBYTES(<cnp.ndarray> a) <= b0
            or b0 + cnp.PyArray_NBYTES(<cnp.ndarray> b) <= a0)


cdef int _check(object p, object g, object s1, object s2) noexcept:
    """0: not taken; 1: float32; 2: float64.  p, s1, s2 written (s1, s2 may
    be None), g read."""
    cdef cnp.ndarray pa
    cdef bint fortran
    cdef int kind
    if not cnp.PyArray_CheckExact(p):
        return 0
    pa = <cnp.ndarray> p
    if cnp.PyArray_TYPE(pa) == cnp.NPY_FLOAT32:
        kind = 1
    elif cnp.PyArray_TYPE(pa) == cnp.NPY_FLOAT64:
        kind = 2
    else:
        return 0
    if (not cnp.PyArray_ISALIGNED(pa) or not cnp.PyArray_ISNOTSWAPPED(pa)
            or not cnp.PyArray_ISWRITEABLE(pa)):
        return 0
    if cnp.PyArray_IS_C_CONTIGUOUS(pa):
        fortran = False
    elif cnp.PyArray_IS_F_CONTIGUOUS(pa):
        fortran = True
    else:
        return 0
    if not _like(g, pa, fortran, False):
        return 0
    if s1 is not None and not _like(s1, pa, fortran, True):
        return 0
    if s2 is not None and not _like(s2, pa, fortran, True):
        return 0
    # no two share memory (the loops' pointers are restrict)
    if not (_apart(g, p) and _apart(g, s1) and _apart(g, s2) and _apart(p, s1)
            and _apart(p, s2) and _apart(s1, s2)):
        return 0
    return kind


cdef inline void* _ptr(object a) noexcept:
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray> a)


# ---- the optimizers -----------------------------------------------------------

def sgd(p, g, v, double lr, double momentum, bint nesterov, double weight_decay):
    """One SGD step of one parameter in place (v: the velocity, None without
    momentum); False if the arrays do not qualify (see the module)."""
    cdef int kind = _check(p, g, v, None)
    if kind == 0 or (v is None) != (momentum == 0.0):
        return False
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray> p)
    cdef void* pp = _ptr(p)
    cdef const void* gp = _ptr(g)
    cdef void* vp = _ptr(v)
    cdef int use_wd = weight_decay != 0.0
    cdef int flags = 0
    cdef double x[3]
    cdef float f[3]
    x[0] = lr; x[1] = momentum; x[2] = weight_decay
    with nogil:
        if kind == 1:
            flags = _npy_fpe(fr_to_float(x, f, 3))   # the ufunc path's dt(x)
            _fpe_clear()
            fr_sgd_f(n, <float*> pp, <const float*> gp, <float*> vp, f[0], f[1], nesterov,
                     f[2], use_wd)
        else:
            _fpe_clear()
            fr_sgd_d(n, <double*> pp, <const double*> gp, <double*> vp, lr, momentum,
                     nesterov, weight_decay, use_wd)
        flags |= _fpe_flags()
    _report(flags, "sgd")
    return True


def adagrad(p, g, G, double lr, double eps):
    """One Adagrad step of one parameter in place (G: the accumulated
    squares); False if the arrays do not qualify (see the module)."""
    cdef int kind = _check(p, g, G, None)
    if kind == 0 or G is None:
        return False
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray> p)
    cdef void* pp = _ptr(p)
    cdef const void* gp = _ptr(g)
    cdef void* Gp = _ptr(G)
    cdef int flags = 0
    cdef double x[2]
    cdef float f[2]
    x[0] = lr; x[1] = eps
    with nogil:
        if kind == 1:
            flags = _npy_fpe(fr_to_float(x, f, 2))
            _fpe_clear()
            fr_adagrad_f(n, <float*> pp, <const float*> gp, <float*> Gp, f[0], f[1])
        else:
            _fpe_clear()
            fr_adagrad_d(n, <double*> pp, <const double*> gp, <double*> Gp, lr, eps)
        flags |= _fpe_flags()
    _report(flags, "adagrad")
    return True


def adam(p, g, m, v, double beta1, double beta2, double eps, double weight_decay,
         double step_size, double bias_correction2_sqrt):
    """One Adam step of one parameter in place (m, v: the moments); False if
    the arrays do not qualify (see the module)."""
    cdef int kind = _check(p, g, m, v)
    if kind == 0 or m is None or v is None:
        return False
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray> p)
    cdef void* pp = _ptr(p)
    cdef const void* gp = _ptr(g)
    cdef void* mp = _ptr(m)
    cdef void* vp = _ptr(v)
    cdef int use_wd = weight_decay != 0.0
    cdef int flags = 0
    cdef double x[8]
    cdef float f[8]
    # 1 - b1, 1 - b2 computed in float64 and then rounded, as optim's dt(1.0 - b1)
    x[0] = beta1; x[1] = 1.0 - beta1; x[2] = beta2; x[3] = 1.0 - beta2
    x[4] = bias_correction2_sqrt; x[5] = eps; x[6] = step_size; x[7] = weight_decay
    with nogil:
        if kind == 1:
            flags = _npy_fpe(fr_to_float(x, f, 8))
            _fpe_clear()
            fr_adam_f(n, <float*> pp, <const float*> gp, <float*> mp, <float*> vp, f[0],
                      f[1], f[2], f[3], f[4], f[5], f[6], f[7], use_wd)
        else:
            _fpe_clear()
            fr_adam_d(n, <double*> pp, <const double*> gp, <double*> mp, <double*> vp,
                      x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], use_wd)
        flags |= _fpe_flags()
    _report(flags, "adam")
    return True


# ---- sums of squares, clipping by value -------------------------------------

cdef int _contiguous(object a, bint write) noexcept:
    """0: not taken; 1: float32; 2: float64 (aligned, native byte order, C- or
    F-contiguous, writeable if write)."""
    if not cnp.PyArray_CheckExact(a):
        return 0
    cdef cnp.ndarray x = <cnp.ndarray> a
    if (not cnp.PyArray_ISALIGNED(x) or not cnp.PyArray_ISNOTSWAPPED(x)
            or (write and not cnp.PyArray_ISWRITEABLE(x))
            or not (cnp.PyArray_IS_C_CONTIGUOUS(x) or cnp.PyArray_IS_F_CONTIGUOUS(x))):
        return 0
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32:
        return 1
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT64:
        return 2
    return 0


def sumsq(a):
    """sum(a * a) in float64 for a contiguous float32 or float64 ndarray (any
    memory order; float64 squares may overflow to inf or underflow: the
    caller rescales, and, as its NumPy path, reports no floating-point error);
    None for anything else."""
    cdef int kind = _contiguous(a, False)
    if kind == 0:
        return None
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray> a)
    cdef const void* xp = cnp.PyArray_DATA(<cnp.ndarray> a)
    cdef double s
    with nogil:
        s = fr_sumsq_f(n, <const float*> xp) if kind == 1 else fr_sumsq_d(n, <const double*> xp)
    return s


def scale(g, double s):
    """np.multiply(g, g.dtype.type(s), out=g) in one compiled pass, for a
    contiguous writeable float32 or float64 ndarray (any memory order);
    False for anything else."""
    cdef int kind = _contiguous(g, True)
    if kind == 0:
        return False
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray> g)
    cdef void* xp = cnp.PyArray_DATA(<cnp.ndarray> g)
    cdef float sf
    cdef int flags = 0
    with nogil:
        if kind == 1:
            flags = _npy_fpe(fr_to_float(&s, &sf, 1))   # the ufunc path's dt(s)
            _fpe_clear()
            fr_scale_f(n, <float*> xp, sf)
        else:
            _fpe_clear()
            fr_scale_d(n, <double*> xp, s)
        flags |= _fpe_flags()
    _report(flags, "multiply")
    return True


def clip(g, double bound):
    """g = clip(g, -bound, bound) in place, bound rounded to g's dtype, for a
    contiguous writeable float32 or float64 ndarray (any memory order);
    False for anything else."""
    cdef int kind = _contiguous(g, True)
    if kind == 0:
        return False
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray> g)
    cdef void* xp = cnp.PyArray_DATA(<cnp.ndarray> g)
    cdef float bf
    cdef int flags = 0
    # np.clip's comparisons raise no flag, even for NaN (min/max instructions
    # would: the loop's flags are not read); the bound's rounding to float32,
    # optim's dt(c), can
    with nogil:
        if kind == 1:
            flags = _npy_fpe(fr_to_float(&bound, &bf, 1))
            fr_clip_f(n, <float*> xp, bf)
        else:
            fr_clip_d(n, <double*> xp, bound)
    _report(flags, "cast")
    return True


# ---- arrays whose bytes may overlap (clip_by_global_norm's alias check) ------

def overlapping(arrays):
    """Pairs (i, j), i < j, of the ndarrays in the sequence `arrays` whose
    byte extents (first to last element, any strides) overlap: a superset of
    the pairs that share memory, for np.shares_memory to decide.  Empty
    arrays overlap nothing.  The extents sorted by start, then swept: k log k
    for arrays apart (the usual case), more only for pairs that overlap."""
    cdef Py_ssize_t k = len(arrays), i, d
    cdef cnp.ndarray x
    cdef char* lo
    cdef char* hi
    cdef Py_ssize_t step
    cdef list extents = [], pairs = [], active = []
    for i in range(k):
        x = <cnp.ndarray?> arrays[i]
        if cnp.PyArray_SIZE(x) == 0:
            continue
        lo = hi = <char*> cnp.PyArray_DATA(x)
        for d in range(cnp.PyArray_NDIM(x)):
            step = cnp.PyArray_STRIDES(x)[d] * (cnp.PyArray_DIMS(x)[d] - 1)
            if step < 0:
                lo += step
            else:
                hi += step
        extents.append((<size_t> lo, <size_t> hi + <size_t> cnp.PyArray_ITEMSIZE(x), i))
    extents.sort()
    for e in extents:
        # the extents begun before this one and not ended at its start
        active = [a for a in active if a[1] > e[0]]
        for a in active:
            pairs.append((a[2], e[2]) if a[2] < e[2] else (e[2], a[2]))
        active.append(e)
    return pairs
