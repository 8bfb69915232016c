# The kernels' own matrix product against a packed operand (_packgemm.h),
# declared once for the modules that use it (_kernels, _sample).
cdef extern from "_packgemm.h" nogil:
    Py_ssize_t fr_packed_size_f(Py_ssize_t k, Py_ssize_t n)
    Py_ssize_t fr_packed_size_d(Py_ssize_t k, Py_ssize_t n)
    void fr_pack_f(Py_ssize_t k, Py_ssize_t n, const float* W, Py_ssize_t w_rs,
                   Py_ssize_t w_cs, float* Wp)
    void fr_pack_d(Py_ssize_t k, Py_ssize_t n, const double* W, Py_ssize_t w_rs,
                   Py_ssize_t w_cs, double* Wp)
    void fr_gemmp_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float* A,
                    Py_ssize_t a_rs, Py_ssize_t a_cs, const float* Wp,
                    int accumulate, float* C, Py_ssize_t ldc)
    void fr_gemmp_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double* A,
                    Py_ssize_t a_rs, Py_ssize_t a_cs, const double* Wp,
                    int accumulate, double* C, Py_ssize_t ldc)
