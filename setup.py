"""Build the Cython extensions; all metadata lives in pyproject.toml.

Environment switches:
    FASTRNN_DEBUG_CYTHON=1  compile with Cython's boundscheck, wraparound and
                            initializedcheck on (the debug CI run).
    FASTRNN_ASAN=1          compile with -fsanitize=address (see tools/).
    FASTRNN_NO_CLONES=1     compile only the baseline (SSE2) code of the row
                            functions, not also the AVX2/FMA and AVX-512
                            clones that such machines run (set by the debug
                            build; CI also runs the kernel tests on an -O3
                            build of it; see _rowops.h).
    FASTRNN_NO_AVX512=1     compile the baseline and AVX2/FMA clones only (CI
                            tests the AVX2 code so on an AVX-512 machine).
    FASTRNN_ONLY=a,b        build only these extensions (e.g. _sample), for
                            working on one kernel without rebuilding the rest.
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

DEBUG = os.environ.get("FASTRNN_DEBUG_CYTHON") == "1"
ASAN = os.environ.get("FASTRNN_ASAN") == "1"

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
# -fno-trapping-math lets gcc if-convert and so vectorise the branch-free
# tanh/exp loops of _rowops.h; results are unchanged (no FP traps are enabled)
compile_args = ["-fno-trapping-math"]
compile_args += ["-O3"] if not (DEBUG or ASAN) else ["-O1", "-g"]
link_args = []
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG or os.environ.get("FASTRNN_NO_CLONES") == "1":
    macros.append(("FASTRNN_NO_CLONES", "1"))
if os.environ.get("FASTRNN_NO_AVX512") == "1":
    macros.append(("FASTRNN_NO_AVX512", "1"))
if ASAN:
    compile_args += ["-fsanitize=address", "-fno-omit-frame-pointer"]
    link_args += ["-fsanitize=address"]


#: per-module flags: _update's loops must round every intermediate to the
#: dtype as optim's NumPy code does (no fused multiply-adds), raise the
#: floating-point exception flags its ufunc calls raise and no others (no
#: operation computed ahead of a branch: -ftrapping-math, after the common
#: -fno-trapping-math), may inline sqrt as one instruction (no errno to set),
#: and use the NumPy 2 C API (PyUFunc_GiveFloatingpointErrors)
EXTRA_ARGS = {"_update": ["-ffp-contract=off", "-ftrapping-math", "-fno-math-errno"]}
EXTRA_MACROS = {"_update": [("NPY_TARGET_VERSION", "NPY_2_0_API_VERSION")]}


def ext(name):
    return Extension(
        f"fastrnn.{name}",
        [f"src/fastrnn/{name}.pyx"],
        include_dirs=["src/fastrnn", np.get_include()],
        extra_compile_args=compile_args + EXTRA_ARGS.get(name, []),
        extra_link_args=link_args + (["-pthread"] if name == "_kernels" else []),
        # dladdr/dlopen/dlsym (_blas's BLAS thread limit): in libc from glibc
        # 2.34 on, in libdl before
        libraries=["dl"] if name == "_blas" and sys.platform.startswith("linux") else [],
        define_macros=macros + EXTRA_MACROS.get(name, []),
    )


EXTENSIONS = ["_blas", "_index", "_kernels", "_sample", "_update"]
only = os.environ.get("FASTRNN_ONLY")
if only:
    EXTENSIONS = [e for e in EXTENSIONS if e in only.split(",")]
# a kernel module still being written is skipped until its source exists
EXTENSIONS = [e for e in EXTENSIONS if os.path.exists(f"src/fastrnn/{e}.pyx")]

class build_ext(_build_ext):
    """Run Cython only when extensions are built, not for every setup.py
    command (``python -m build`` calls setup.py four times: egg_info, sdist,
    and the wheel's metadata and build)."""

    def run(self):
        done = cythonize(
            self.extensions,
            compiler_directives=directives,
            # regenerate every time: C files left by a debug build (checks on)
            # must never be compiled into a normal one, or the other way round
            force=True,
        )
        c_sources = {e.name: e.sources for e in done}
        for e in self.extensions:  # keep setuptools' own Extension objects
            e.sources = c_sources[e.name]
        super().run()


setup(
    ext_modules=[ext(name) for name in EXTENSIONS],
    cmdclass={"build_ext": build_ext},
)
