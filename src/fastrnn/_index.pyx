"""Compiled parts of the validation gate (``_validate``).

:func:`first_outside` is the one-pass range check of an index array that
``_validate``'s Python path calls on token ids and targets it has already
turned into C-contiguous intp arrays; it reads, never writes.  A Python-level
``arr.min()`` and ``arr.max()`` cost two NumPy reductions (about 3 µs on a
course-sized batch, a tenth of a training step); this is one loop.

:func:`fast_batch` is the gate's usual case in compiled code: the checks of
``_validate.check_batch`` for plain ndarrays, deciding in C what the Python
path decides with a few dozen NumPy calls.  It either returns exactly the Batch
the Python path would return, or None ("not handled") for anything outside the
usual case or failing any check, and the Python path then runs from the start
and raises its specific error.  It never raises for a bad input itself, so
every error message is the Python path's; and everything it accepts the Python
path accepts too.

Thread safety: nothing global is written after import (the module's constants
are dtype singletons and a tuple of them); each call reads its arguments and
writes only arrays it allocated.
"""
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItemWithError, PyDict_Size
from cpython.object cimport PyObject, PyTypeObject
from cpython.type cimport PyType_IsSubtype
from cython cimport boundscheck, wraparound
from libc.string cimport memcpy

cimport numpy as cnp

import numpy as np

cnp.import_array()

cdef extern from "Python.h":
    PyTypeObject PyTuple_Type
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "limits.h":
    # BLAS (LP64) takes dimensions and leading dimensions as C ints (_validate.INT_MAX)
    const int INT_MAX


@boundscheck(False)
@wraparound(False)
def first_outside(const Py_ssize_t[:, ::1] v, Py_ssize_t lo, Py_ssize_t hi):
    """Flat index of the first element of v outside [lo, hi), or -1 if none."""
    cdef Py_ssize_t n = v.shape[0] * v.shape[1]
    if n == 0:
        return -1
    return _first_outside(&v[0, 0], n, lo, hi)


cdef Py_ssize_t _first_outside(const Py_ssize_t* p, Py_ssize_t n, Py_ssize_t lo,
                               Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i, x
    for i in range(n):
        x = p[i]
        if x < lo or x >= hi:
            return i
    return -1


# ---------------------------------------------------------------------------
# the usual case of check_batch

cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)
cdef object _INTP = np.dtype(np.intp)


cdef tuple _native_int_descrs():
    """Type number -> NumPy's own (native byte order) descriptor, for the
    integer types read here; None elsewhere.  ``long long`` only where it is
    intp (Windows): on Linux a longlong array equals intp (``==``) and the
    Python path passes it through uncast, so it is left to that path."""
    nums = [cnp.NPY_BYTE, cnp.NPY_UBYTE, cnp.NPY_SHORT, cnp.NPY_USHORT, cnp.NPY_INT,
            cnp.NPY_UINT, cnp.NPY_LONG, cnp.NPY_ULONG, cnp.NPY_LONGLONG]
    out = [None] * (max(nums) + 1)
    for t in nums:
        if t != cnp.NPY_LONGLONG or _INTP.num == cnp.NPY_LONGLONG:
            out[t] = cnp.PyArray_DescrFromType(t)
    return tuple(out)


cdef tuple _INT_DESCRS = _native_int_descrs()

ctypedef unsigned long _ulong
ctypedef fused _int_t:
    signed char
    unsigned char
    short
    unsigned short
    int
    unsigned int
    long
    _ulong
    long long


cdef inline bint _inside(_int_t x, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """lo <= x < hi, exact for every x (an unsigned long past intp's range is
    outside, never wrapped into it)."""
    if _int_t is _ulong:
        if x > <_ulong>PY_SSIZE_T_MAX:
            return False
    return lo <= <Py_ssize_t>x < hi


@boundscheck(False)
@wraparound(False)
cdef bint _gather(_int_t* tag, const char* src, Py_ssize_t s0, Py_ssize_t s1,
                  Py_ssize_t B, Py_ssize_t T, Py_ssize_t lo, Py_ssize_t hi,
                  const Py_ssize_t* L, Py_ssize_t pad, Py_ssize_t* out) noexcept nogil:
    """out (B, T) C-contiguous = src (B, T) with strides s0, s1 (bytes), each in
    [lo, hi); with L, positions t >= L[b] are `pad` and their values unread.
    False at the first value outside (out then partly written).  `tag` (NULL)
    only picks the element type."""
    cdef Py_ssize_t b, t, n
    cdef const char* row
    cdef _int_t x
    for b in range(B):
        n = T if L == NULL else L[b]
        row = src + b * s0
        for t in range(n):
            x = (<const _int_t*>(row + t * s1))[0]
            if not _inside(x, lo, hi):
                return False
            out[b * T + t] = <Py_ssize_t>x
        for t in range(n, T):
            out[b * T + t] = pad
    return True


cdef bint _gather_any(int typenum, const char* src, Py_ssize_t s0, Py_ssize_t s1,
                      Py_ssize_t B, Py_ssize_t T, Py_ssize_t lo, Py_ssize_t hi,
                      const Py_ssize_t* L, Py_ssize_t pad, Py_ssize_t* out) noexcept nogil:
    """:func:`_gather` for an element of NumPy type `typenum` (one of
    _INT_DESCRS')."""
    if typenum == cnp.NPY_BYTE:
        return _gather(<signed char*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_UBYTE:
        return _gather(<unsigned char*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_SHORT:
        return _gather(<short*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_USHORT:
        return _gather(<unsigned short*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_INT:
        return _gather(<int*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_UINT:
        return _gather(<unsigned int*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_LONG:
        return _gather(<long*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_ULONG:
        return _gather(<_ulong*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    if typenum == cnp.NPY_LONGLONG:
        return _gather(<long long*>NULL, src, s0, s1, B, T, lo, hi, L, pad, out)
    return False


cdef inline int _int_type(cnp.ndarray a) noexcept:
    """a's type number if its dtype is one of _INT_DESCRS (by identity: a
    byte-swapped or otherwise different descriptor is not) and its elements
    are aligned (they are read through typed pointers), else -1."""
    cdef int t = cnp.PyArray_TYPE(a)
    if 0 <= t < len(_INT_DESCRS) and cnp.PyArray_ISALIGNED(a):
        d = _INT_DESCRS[t]
        if d is not None and <PyObject*>cnp.PyArray_DESCR(a) == <PyObject*>d:
            return t
    return -1


cdef inline bint _is_intp(cnp.ndarray a) noexcept:
    return <PyObject*>cnp.PyArray_DESCR(a) == <PyObject*>_INTP


cdef inline object _contig(cnp.ndarray a):
    """_validate._c_aligned(a): a itself if C-contiguous and aligned, else a
    C-ordered copy (the kernels read through typed pointers)."""
    if cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a):
        return a
    return cnp.PyArray_NewCopy(a, cnp.NPY_CORDER)


cdef object _index_array(cnp.ndarray a, Py_ssize_t B, Py_ssize_t T, Py_ssize_t lo,
                         Py_ssize_t hi, const Py_ssize_t* L, Py_ssize_t pad):
    """A new (B, T) C-contiguous intp copy of the integer array `a`, each value
    in [lo, hi) (positions t >= L[b] set to `pad`, when L), or None if a value
    is outside or `a` has another dtype.  Always a copy, as in the Python
    path: the kernels index memory with these values after releasing the
    GIL, so they must not be an array another thread could change."""
    cdef int t = _int_type(a)
    cdef cnp.npy_intp dims[2]
    cdef cnp.ndarray out
    if t < 0:
        return None
    dims[0] = B
    dims[1] = T
    out = cnp.PyArray_EMPTY(2, dims, cnp.NPY_INTP, 0)
    if not _gather_any(t, <const char*>cnp.PyArray_DATA(a), cnp.PyArray_STRIDES(a)[0],
                       cnp.PyArray_STRIDES(a)[1], B, T, lo, hi, L, pad,
                       <Py_ssize_t*>cnp.PyArray_DATA(out)):
        return None
    return out


cdef object _new_tuple(type cls, tuple items):
    """tuple.__new__(cls, items): a NamedTuple without its Python __new__."""
    if not PyType_IsSubtype(cls, tuple):
        raise TypeError(f"{cls.__name__} is not a tuple subclass")
    cdef tuple args = (items,)
    return PyTuple_Type.tp_new(cls, <PyObject*>args, NULL)


cdef inline bint _is_float_array(object v, object dtype, int ndim) noexcept:
    return (type(v) is cnp.ndarray
            and <PyObject*>cnp.PyArray_DESCR(<cnp.ndarray>v) == <PyObject*>dtype
            and cnp.PyArray_NDIM(<cnp.ndarray>v) == ndim)


cdef cnp.ndarray _param(dict params, str key, object dtype, int ndim):
    """params[key] if it is an ndarray of `dtype` (by identity) and `ndim`
    dimensions, else None."""
    cdef PyObject* v = PyDict_GetItemWithError(params, key)
    if v == NULL or not _is_float_array(<object>v, dtype, ndim):
        return None
    return <cnp.ndarray>v


def fast_batch(params, X, Y, a0, lengths, bint need_Y, type batch_cls, type params_cls):
    """``_validate.check_batch(params, X, Y, a0, lengths, need_Y=need_Y)`` for
    the usual case, built as `batch_cls` (Batch) and `params_cls` (Params); None
    when not handled here (the Python path then decides, and raises).

    Handled: `params` a dict (exactly, not a subclass) of the five keys, each
    an ndarray (exactly) of one float32 or float64 dtype (NumPy's own
    descriptor, by identity) with the right shapes; `X` an ndarray of integer
    token ids (B, T) (NumPy's native integer types but long long, where that
    is not intp), each in [0, I); `Y` None or such an array (B, T) or (B,),
    each in [-1, O); `a0` None or an ndarray of the parameters' dtype, (B, H)
    or (H,); `lengths` None or an integer ndarray (B,), each in [1, T].  Every
    size as the Python path bounds it (>= 1; I, H, O, B*T and B*H within
    INT_MAX).  The caller's arrays are only read.
    """
    cdef Py_ssize_t I, H, O, B, T, b
    cdef cnp.ndarray Wax, Waa, ba, Wya, by, Xa, Ya, a0a, La
    cdef cnp.npy_intp dims[2]
    cdef cnp.npy_intp* d
    cdef cnp.PyArray_Dims shape
    cdef const Py_ssize_t* Lp = NULL
    cdef bint padded = False
    cdef int t
    cdef PyObject* item
    cdef cnp.ndarray L, a0c
    cdef object dtype, ids, Yc, a0_shape

    # --- params: exactly the five keys (five of five, so no other key)
    if not PyDict_CheckExact(params) or PyDict_Size(params) != 5:
        return None
    item = PyDict_GetItemWithError(params, "Wax")
    if item == NULL or type(<object>item) is not cnp.ndarray:
        return None
    dtype = <object>cnp.PyArray_DESCR(<cnp.ndarray>item)
    if dtype is not _F32 and dtype is not _F64:
        return None
    Wax = _param(params, "Wax", dtype, 2)
    Waa = _param(params, "Waa", dtype, 2)
    ba = _param(params, "ba", dtype, 1)
    Wya = _param(params, "Wya", dtype, 2)
    by = _param(params, "by", dtype, 1)
    if Wax is None or Waa is None or ba is None or Wya is None or by is None:
        return None
    H = cnp.PyArray_DIMS(Wax)[0]
    I = cnp.PyArray_DIMS(Wax)[1]
    O = cnp.PyArray_DIMS(Wya)[0]
    if not (cnp.PyArray_DIMS(Waa)[0] == H and cnp.PyArray_DIMS(Waa)[1] == H
            and cnp.PyArray_DIMS(ba)[0] == H
            and cnp.PyArray_DIMS(Wya)[1] == H and cnp.PyArray_DIMS(by)[0] == O
            and 1 <= H <= INT_MAX and 1 <= I <= INT_MAX and 1 <= O <= INT_MAX):
        return None

    # --- X: integer token ids (B, T); sizes BLAS can take
    if type(X) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>X) != 2:
        return None
    Xa = X
    if _int_type(Xa) < 0:
        return None
    B = cnp.PyArray_DIMS(Xa)[0]
    T = cnp.PyArray_DIMS(Xa)[1]
    # B*T cannot overflow (it is an array's size); B <= INT_MAX after it, so B*H cannot
    if B < 1 or T < 1 or B * T > INT_MAX or B * H > INT_MAX:
        return None

    # --- lengths: None (all T) or integers (B,) in [1, T]
    dims[0] = B
    if lengths is None:
        L = cnp.PyArray_EMPTY(1, dims, cnp.NPY_INTP, 0)
        Lp = <const Py_ssize_t*>cnp.PyArray_DATA(L)
        for b in range(B):
            (<Py_ssize_t*>Lp)[b] = T
    else:
        if type(lengths) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>lengths) != 1:
            return None
        La = lengths
        t = _int_type(La)
        if t < 0 or cnp.PyArray_DIMS(La)[0] != B:
            return None
        # always a copy (see _index_array)
        L = cnp.PyArray_EMPTY(1, dims, cnp.NPY_INTP, 0)
        if not _gather_any(t, <const char*>cnp.PyArray_DATA(La), 0,
                           cnp.PyArray_STRIDES(La)[0], 1, B, 1, T + 1, NULL, 0,
                           <Py_ssize_t*>cnp.PyArray_DATA(L)):
            return None
        Lp = <const Py_ssize_t*>cnp.PyArray_DATA(L)
        for b in range(B):
            if Lp[b] != T:
                padded = True
                break

    # --- ids, each in [0, I) before its sequence's end
    ids = _index_array(Xa, B, T, 0, I, Lp if padded else NULL, 0)
    if ids is None:
        return None

    # --- Y: None, (B, T) or (B,) integer targets in [IGNORE = -1, O)
    if Y is None:
        if need_Y:
            return None
        Yc = None
    else:
        if type(Y) is not cnp.ndarray:
            return None
        Ya = Y
        t = _int_type(Ya)
        if t < 0:
            return None
        d = cnp.PyArray_DIMS(Ya)
        if cnp.PyArray_NDIM(Ya) == 2 and d[0] == B and d[1] == T:
            Yc = _index_array(Ya, B, T, -1, O, Lp if padded else NULL, -1)
            if Yc is None:
                return None
        elif cnp.PyArray_NDIM(Ya) == 1 and d[0] == B:
            # one target per sequence, read at its last step; -1 elsewhere
            dims[1] = T
            Yc = cnp.PyArray_EMPTY(2, dims, cnp.NPY_INTP, 0)
            if not _gather_any(t, <const char*>cnp.PyArray_DATA(Ya), 0,
                               cnp.PyArray_STRIDES(Ya)[0], 1, B, -1, O, NULL, 0,
                               <Py_ssize_t*>cnp.PyArray_DATA(Yc)):
                return None
            _spread_last(<Py_ssize_t*>cnp.PyArray_DATA(Yc), B, T, Lp)
        else:
            return None

    # --- a0: None (zeros), or the parameters' dtype, (B, H) or (H,)
    dims[1] = H
    if a0 is None:
        a0c = cnp.PyArray_ZEROS(2, dims, cnp.PyArray_TYPE(Wax), 0)
        a0_shape = (B, H)
    elif _is_float_array(a0, dtype, 2):
        a0a = a0
        if cnp.PyArray_DIMS(a0a)[0] != B or cnp.PyArray_DIMS(a0a)[1] != H:
            return None
        a0c = _contig(a0a)
        a0_shape = (B, H)
    elif _is_float_array(a0, dtype, 1):
        a0a = a0
        if cnp.PyArray_DIMS(a0a)[0] != H:
            return None
        a0a = _contig(a0a)
        if B == 1:
            # np.ascontiguousarray(np.broadcast_to(a0, (1, H))) is that read-only
            # view, not a copy: the same here
            shape.ptr = dims
            shape.len = 2
            a0c = cnp.PyArray_Newshape(a0a, &shape, cnp.NPY_CORDER)
            cnp.PyArray_CLEARFLAGS(a0c, cnp.NPY_ARRAY_WRITEABLE)
        else:
            a0c = cnp.PyArray_EMPTY(2, dims, cnp.PyArray_TYPE(Wax), 0)
            for b in range(B):
                memcpy(<char*>cnp.PyArray_DATA(a0c) + b * cnp.PyArray_NBYTES(a0a),
                       cnp.PyArray_DATA(a0a), cnp.PyArray_NBYTES(a0a))
        a0_shape = (H,)
    else:
        return None

    # Wax stored Fortran-order (as init_params makes it) gives WaxT without a copy
    p = _new_tuple(params_cls, (_contig(cnp.PyArray_Transpose(Wax, NULL)), _contig(Waa),
                                _contig(ba), _contig(Wya), _contig(by), dtype, I, H, O))
    return _new_tuple(batch_cls, (p, ids, None, Yc, L, a0c, a0_shape, B, T))


cdef void _spread_last(Py_ssize_t* out, Py_ssize_t B, Py_ssize_t T,
                       const Py_ssize_t* L) noexcept nogil:
    """out (B, T) whose first B elements hold one value per row: each row
    becomes IGNORE (-1) but for that value at t = L[b] - 1."""
    cdef Py_ssize_t b, t, v
    for b in range(B - 1, -1, -1):  # backwards: row b's value sits at out[b], before row b ends
        v = out[b]
        for t in range(T):
            out[b * T + t] = -1
        out[b * T + L[b] - 1] = v
