#!/usr/bin/env bash
# Packaging smoke test: sdist, a wheel built from that sdist, installed into a
# clean virtual environment, imported and run there (see tools/README.md).
#
#   tools/wheel_smoke.sh
#
# Builds from a copy of the checkout's files (tracked and untracked, not the
# ignored build products), so the checkout gets no build/, *.egg-info or C
# files.  Building the wheel from the sdist proves the sdist is complete; the
# builds run in isolated environments, so pyproject.toml's
# build-system.requires must be complete too.  The clean environment gets the
# runtime dependencies from the package index.  Fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
PYTHON=${PYTHON:-python}
work=$(mktemp -d "${TMPDIR:-/tmp}/fastrnn-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== sdist, then a wheel from it (python -m build)"
mkdir "$work/tree"
git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - | tar -xf - -C "$work/tree"
# PyPA's build frontend: not part of a fresh Python, so installed when missing
# (asked of pip: "import build" from the checkout would find its build/ folder)
"$PYTHON" -m pip show -q build >/dev/null 2>&1 || "$PYTHON" -m pip install -q build
# with neither --sdist nor --wheel, build makes the sdist and then the wheel from
# the unpacked sdist, each in an isolated environment of build-system.requires
if ! (cd "$work/tree" && "$PYTHON" -m build --outdir "$work/dist" .) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    echo "wheel_smoke.sh: build failed" >&2
    exit 1
fi
sdist=$(ls "$work"/dist/fastrnn-*.tar.gz)
wheel=$(ls "$work"/dist/fastrnn-*.whl)
echo "   $(basename "$sdist"), $(basename "$wheel") in $((SECONDS - start)) s"

# generated and compiled files stay out of the sdist; the wheel has the
# compiled modules, their stubs and py.typed, and no C sources
"$PYTHON" - "$sdist" "$wheel" <<'EOF'
import sys, tarfile, zipfile
sdist, wheel = sys.argv[1:]
names = tarfile.open(sdist).getnames()
bad = [n for n in names if n.endswith((".c", ".so"))]
assert not bad, f"sdist ships generated files: {bad}"
for need in ("setup.py", "pyproject.toml", "LICENSE", "src/fastrnn/_kernels.pyx",
             "src/fastrnn/_rowops.h", "src/fastrnn/_blas.pxd"):
    assert any(n.endswith(need) for n in names), f"sdist lacks {need}"
names = zipfile.ZipFile(wheel).namelist()
assert not [n for n in names if n.endswith(".c")], "wheel ships C sources"
for ext in ("_blas", "_kernels", "_sample", "_update"):
    assert any(n.startswith(f"fastrnn/{ext}.") and n.endswith(".so") for n in names), ext
    assert f"fastrnn/{ext}.pyi" in names, f"{ext}.pyi"
assert "fastrnn/py.typed" in names
EOF

echo "== clean virtual environment, install the wheel"
"$PYTHON" -m venv "$work/venv"
if ! "$work/venv/bin/python" -m pip install -q "$wheel" >"$work/pip.log" 2>&1; then
    tail -n 40 "$work/pip.log" >&2
    echo "wheel_smoke.sh: pip install of the wheel failed" >&2
    exit 1
fi

echo "== import and run it there"
version=$(basename "$wheel" | cut -d- -f2)
# from an empty directory, with no PYTHONPATH: only the installed copy is importable
(cd "$work" && env -u PYTHONPATH "$work/venv/bin/python" - "$version" <<'EOF'
import importlib.metadata
import sys

import numpy as np

import fastrnn

expected = sys.argv[1]
assert "site-packages" in fastrnn.__file__, fastrnn.__file__
assert fastrnn.__version__ == expected == importlib.metadata.version("fastrnn"), (
    fastrnn.__version__, expected, importlib.metadata.version("fastrnn"))
meta = importlib.metadata.metadata("fastrnn")
assert meta["Requires-Python"] and meta["License-Expression"] == "BSD-3-Clause", dict(meta)
urls = {u.split(",")[0] for u in meta.get_all("Project-URL")}
assert {"Homepage", "Documentation", "Changelog", "Issues"} <= urls, urls
requires = " ".join(importlib.metadata.requires("fastrnn"))
assert all(d in requires for d in ("numpy", "scipy", "tqdm")), requires
# the installed extension finds the OpenBLAS behind SciPy's cython_blas (dladdr, dlsym)
assert fastrnn._blas.limitable() and "openblas" in fastrnn._blas.library(), fastrnn._blas.library()
p = fastrnn.init_params(5, 8, seed=0, dtype=np.float64)
X = np.array([[0, 3, 1, 2, 4], [4, 4, 0, 1, 3]])
loss, grads, a_last = fastrnn.loss_and_grads(p, X[:, :-1], X[:, 1:], lengths=[4, 3])
probs, A = fastrnn.forward(p, X)
ref_loss, ref_grads, ref_last = fastrnn.reference.loss_and_grads(p, X[:, :-1], X[:, 1:],
                                                                 lengths=[4, 3])
assert abs(loss - ref_loss) <= 1e-10 * ref_loss, (loss, ref_loss)
for k in ref_grads:
    np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-12)
ids = fastrnn.sample(p, 20, seed=0)
assert np.array_equal(ids, fastrnn.reference.sample(p, 20, seed=0))
print(f"   fastrnn {fastrnn.__version__} from {fastrnn.__file__}: loss {loss:.6f} "
      f"matches the reference")
EOF
)
out=$(cd "$work" && env -u PYTHONPATH "$work/venv/bin/fastrnn" --version)
[[ $out == "fastrnn $version" ]] || { echo "wheel_smoke.sh: fastrnn --version said '$out'" >&2; exit 1; }
echo "   the fastrnn command: $out"
echo "wheel_smoke.sh: OK in $((SECONDS - start)) s"
