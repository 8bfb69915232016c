#!/usr/bin/env bash
# Valgrind memcheck of the kernels (see tools/README.md).
#
#   tools/valgrind.sh                          tools/memcheck_cases.py (a few minutes)
#   tools/valgrind.sh tests/test_x.py -k y     these pytest arguments instead
#
# Needs a normal (not ASan) build of the extensions; builds one in place when
# there is none or the present one is an ASan build.  A memcheck error counts
# when fastrnn's own code (its extension modules) is where it happens, or what
# called the library (libc, BLAS) where it happens; it is printed and fails
# the run; so is a write(2) of uninitialised bytes (memcheck_cases.py writes
# every kernel output to /dev/null).  Errors inside CPython (even below a
# fastrnn frame, e.g. while a module initialises) and elsewhere are counted
# and ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }

# valgrind must start the interpreter itself: `python` may be a pyenv shim (a
# shell script), and valgrind would check bash, not follow it into python
PY=$(python -c 'import os, sys; print(os.path.realpath(sys.executable))')
if ! file -L "$PY" | grep -q ELF; then
    echo "valgrind.sh: $PY is not an ELF binary" >&2
    exit 2
fi
logdir=$(mktemp -d "${TMPDIR:-/tmp}/fastrnn-valgrind.XXXXXX")

shopt -s nullglob
sos=(src/fastrnn/_kernels*.so)
if ((${#sos[@]} == 0)) || ldd "${sos[0]}" | grep -q libasan; then
    echo "== build: python setup.py build_ext --inplace (no normal build present)"
    if ! "$PY" setup.py -q build_ext --inplace -j "$(nproc)" >"$logdir/build.log" 2>&1; then
        tail -n 40 "$logdir/build.log" >&2
        echo "valgrind.sh: build failed (full log: $logdir/build.log)" >&2
        exit 2
    fi
fi

(($# == 0)) && set -- tools/memcheck_cases.py

echo "== valgrind memcheck: pytest $*"
t0=$SECONDS
set +e
# PYTHONMALLOC=malloc: every Python object is a malloc block memcheck can see.
# FASTRNN_NO_WORK_CACHE=1: a fresh, uninitialised kernel workspace per call,
# so that a read before a write shows up (a reused one holds stale values).
# --child-silent-after-fork: forked children (subprocess, the fuzz tests) are
# not checked; their XML would interleave with the parent's.
PYTHONMALLOC=malloc FASTRNN_NO_WORK_CACHE=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=src \
    valgrind --tool=memcheck --leak-check=no --num-callers=40 --error-exitcode=0 \
    --child-silent-after-fork=yes --xml=yes --xml-file="$logdir/memcheck.xml" \
    --log-file="$logdir/valgrind.log" \
    "$PY" -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
echo "   valgrind ran in $((SECONDS - t0)) s"

report=0
"$PY" - "$PY" "$logdir" <<'PYEOF' || report=$?
"""Print and count the memcheck errors that happen in or below fastrnn's code."""
import collections
import glob
import os
import sys
import xml.etree.ElementTree as ET

python, logdir = sys.argv[1:]


def owner(frame):
    """"fastrnn", "python" (the interpreter) or None (a library, or unknown)."""
    obj = frame.findtext("obj") or ""
    if "/fastrnn/_" in obj or "7fastrnn" in (frame.findtext("fn") or ""):
        return "fastrnn"          # its extension modules, any build or install path
    if "libpython" in obj or os.path.realpath(obj or "/") == python:
        return "python"
    return None


def ours(error):
    # memcheck_cases.py writes every kernel output to /dev/null: uninitialised
    # bytes there are an output element a kernel never wrote
    if "write(buf)" in (error.findtext("what") or ""):
        return True
    # the innermost frame that is fastrnn's or the interpreter's: an error in
    # libc or BLAS called from a kernel is the kernel's; one in CPython called
    # from fastrnn (Py_INCREF during a module import, say) is CPython's
    for stack in error.findall("stack"):
        for frame in stack.iter("frame"):
            who = owner(frame)
            if who:
                return who == "fastrnn"
    return False


found, ignored = collections.Counter(), collections.Counter()
files = sorted(glob.glob(os.path.join(logdir, "memcheck.xml")))
for path in files:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:  # valgrind killed mid-write
        print(f"memcheck: {path} is not complete XML ({exc})")
        found["unreadable"] += 1
        continue
    for error in root.iter("error"):
        kind = error.findtext("kind")
        if kind.startswith("Leak_"):
            continue
        if not ours(error):
            ignored[kind] += 1
            continue
        found[kind] += 1
        what = error.findtext("what") or error.findtext("xwhat/text") or kind
        print(f"---- {kind}: {what}")
        for frame in list(error.find("stack").iter("frame"))[:12]:
            where = frame.findtext("file")
            where = f"{where}:{frame.findtext('line')}" if where else frame.findtext("obj")
            print(f"    {frame.findtext('fn') or '?'}  {where or ''}")
print(f"memcheck: {sum(found.values())} error(s) in fastrnn "
      f"code {dict(found)}; {sum(ignored.values())} elsewhere, ignored {dict(ignored)}")
sys.exit(1 if found or not files else 0)
PYEOF
if ((report != 0)); then
    echo "valgrind.sh: FAILED: memcheck errors in fastrnn code (logs: $logdir)" >&2
    exit 1
fi
if ((status != 0)); then
    echo "valgrind.sh: FAILED: pytest exited with status $status under valgrind (logs: $logdir)" >&2
    exit "$status"
fi
rm -rf "$logdir"
echo "valgrind.sh: clean ($((SECONDS - start)) s in all)"
