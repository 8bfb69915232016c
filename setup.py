"""Build the Cython extensions; all metadata lives in pyproject.toml.

Environment switches:
    FASTRNN_DEBUG_CYTHON=1  compile with Cython's boundscheck, wraparound and
                            initializedcheck on (the debug CI run).
    FASTRNN_ASAN=1          compile with -fsanitize=address (see tools/).
    FASTRNN_NO_CLONES=1     compile only the baseline (SSE2) code of the row
                            functions, not also the AVX2/FMA clone that an
                            AVX2 machine runs (set by the debug build, so CI
                            tests both; see _rowops.h).
    FASTRNN_ONLY=a,b        build only these extensions (e.g. _sample), for
                            working on one kernel without rebuilding the rest.
    FASTRNN_NO_OPENMP=1     build without OpenMP (the recurrence then runs on
                            one thread; otherwise -fopenmp is used when the
                            compiler takes it, see _omp.h).
"""
import os
import subprocess
import sys
import sysconfig
import tempfile

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
if ASAN:
    compile_args += ["-fsanitize=address", "-fno-omit-frame-pointer"]
    link_args += ["-fsanitize=address"]


def _compiler_takes_openmp() -> bool:
    """Whether the C compiler builds and links a program with -fopenmp
    (gcc does; Apple's clang does not without libomp)."""
    if os.environ.get("FASTRNN_NO_OPENMP") == "1" or sys.platform == "win32":
        return False
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.c")
        with open(path, "w") as f:
            f.write(src)
        try:
            r = subprocess.run(cc + ["-fopenmp", path, "-o", os.path.join(d, "t")],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
        return r.returncode == 0


# the recurrence's column split over threads (_kernels.pyx, _omp.h)
OPENMP = {"_kernels"} if _compiler_takes_openmp() else set()


def ext(name):
    omp = ["-fopenmp"] if name in OPENMP else []
    return Extension(
        f"fastrnn.{name}",
        [f"src/fastrnn/{name}.pyx"],
        include_dirs=["src/fastrnn", np.get_include()],
        extra_compile_args=compile_args + omp,
        extra_link_args=link_args + omp,
        define_macros=macros,
    )


EXTENSIONS = ["_blas", "_index", "_kernels", "_sample"]
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
