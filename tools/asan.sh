#!/usr/bin/env bash
# AddressSanitizer run of the kernel tests (see tools/README.md).
#
#   tools/asan.sh                 build with FASTRNN_ASAN=1, run the kernel tests
#   tools/asan.sh tests/test_x.py [pytest args]   run these instead
#
# Builds the extensions IN PLACE in this checkout (src/fastrnn/*.so become
# ASan builds, importable only with libasan preloaded; rebuild with
# `python setup.py build_ext --inplace` afterwards).  Fails on a test failure
# or on any ASan report, from pytest or from any process it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
PYTHON=${PYTHON:-python}

libasan=$(gcc -print-file-name=libasan.so)
if [[ ! -e $libasan ]]; then
    echo "asan.sh: gcc has no libasan.so (got '$libasan'); install libasan" >&2
    exit 2
fi
logdir=$(mktemp -d "${TMPDIR:-/tmp}/fastrnn-asan.XXXXXX")

echo "== build: FASTRNN_ASAN=1 python setup.py build_ext --inplace"
if ! FASTRNN_ASAN=1 "$PYTHON" setup.py -q build_ext --inplace -j "$(nproc)" \
        >"$logdir/build.log" 2>&1; then
    tail -n 40 "$logdir/build.log" >&2
    echo "asan.sh: build failed (full log: $logdir/build.log)" >&2
    exit 2
fi
echo "   built in $((SECONDS - start)) s"

fresh=()   # run again with a fresh workspace a call (see below)
if (($# == 0)); then
    fresh=(tests/test_usual.py)
    set -- tests/test_kernels.py tests/test_validate.py tests/test_blas.py
    for extra in tests/test_sample.py tests/test_rowops.py tests/test_numerics.py \
                 tests/test_optim.py tests/test_usual.py tests/test_gate_fast.py; do
        [[ -e $extra ]] && set -- "$@" "$extra"
    done
fi

echo "== pytest under ASan: $*"
t0=$SECONDS
# log_path: every report, from any process (forked test children too), lands
# in a file, so a report cannot hide in captured output.
# allocator_may_return_null: a huge allocation is numpy's MemoryError, as without ASan.
# PYTHONMALLOC=malloc: Python's own objects go through ASan's allocator too.
set +e
LD_PRELOAD=$libasan \
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$logdir/asan" \
    PYTHONMALLOC=malloc PYTHONPATH=src \
    "$PYTHON" -m pytest -q -p no:cacheprovider "$@"
status=$?
# FASTRNN_NO_WORK_CACHE=1: each call's workspace a new allocation of exactly
# the size it asked for, so that a call using more than it reserved reaches
# ASan's redzone (a reused, larger workspace from an earlier call hides it)
if ((${#fresh[@]})) && ((status == 0)); then
    echo "== again with FASTRNN_NO_WORK_CACHE=1: ${fresh[*]}"
    LD_PRELOAD=$libasan \
        ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$logdir/asan" \
        PYTHONMALLOC=malloc PYTHONPATH=src FASTRNN_NO_WORK_CACHE=1 \
        "$PYTHON" -m pytest -q -p no:cacheprovider "${fresh[@]}"
    status=$?
fi
set -e
echo "   tests ran in $((SECONDS - t0)) s"

reports=("$logdir"/asan.*)
if [[ -e ${reports[0]} ]]; then
    for r in "${reports[@]}"; do
        echo "---- $r"
        cat "$r"
    done
    echo "asan.sh: FAILED: ${#reports[@]} AddressSanitizer report(s) (in $logdir)" >&2
    exit 1
fi
if ((status != 0)); then
    echo "asan.sh: FAILED: pytest exited with status $status" >&2
    exit "$status"
fi
rm -rf "$logdir"
echo "asan.sh: clean, no AddressSanitizer report ($((SECONDS - start)) s in all)"
echo "note: src/fastrnn/*.so are ASan builds now; rebuild: python setup.py build_ext --inplace"
