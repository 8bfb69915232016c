"""Build the Cython extensions; all metadata lives in pyproject.toml.

Environment switches:
    FASTRNN_DEBUG_CYTHON=1  compile with Cython's boundscheck, wraparound and
                            initializedcheck on (the debug CI run).
    FASTRNN_ASAN=1          compile with -fsanitize=address (see tools/).
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

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
compile_args = ["-O3"] if not (DEBUG or ASAN) else ["-O1", "-g"]
link_args = []
if ASAN:
    compile_args += ["-fsanitize=address", "-fno-omit-frame-pointer"]
    link_args += ["-fsanitize=address"]


def ext(name):
    return Extension(
        f"fastrnn.{name}",
        [f"src/fastrnn/{name}.pyx"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


setup(
    ext_modules=cythonize(
        [ext("_blas"), ext("_kernels")],
        compiler_directives=directives,
        # a debug build must not reuse C files generated without checks
        force=DEBUG or ASAN,
    ),
)
