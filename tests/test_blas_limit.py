"""BLAS on one thread for a call (fastrnn._blas.OneBlasThread): the count of
callers inside survives what a Python-level lock did not, a signal handler
calling fastrnn in the middle of a call, an exception raised at any point of
a call, and a fork while another thread is inside a call.

Each scenario runs in a child process with a deadline, so that a hang is a
failure here instead of a stuck test run.
"""
import os
import subprocess
import sys
import textwrap

import pytest

import fastrnn
from fastrnn import _blas

# the directory holding the fastrnn under test (src/ or site-packages)
SRC = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))

pytestmark = [
    pytest.mark.skipif(not _blas.limitable(),
                       reason="SciPy's BLAS here is not a pthreads OpenBLAS fastrnn limits"),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and fork"),
]

# a call in the one-thread range (B*H*H = 4*128*128 = 65,536), small output
# layer, with BLAS products (dense inputs)
_SETUP = """
import os, signal, sys, threading, time
import numpy as np
import fastrnn
from fastrnn import _api, _blas, _validate
p = fastrnn.init_params(700, 128, 65, seed=0)
rng = np.random.default_rng(1)
# 700 dense features: their products are BLAS's (too big for the kernels'
# own), which the limit holds
X = rng.standard_normal((4, 16, 700)).astype(np.float32); Y = rng.integers(0, 65, (4, 16))
b = _validate.check_batch(p, X, Y, None, None, need_Y=True)
assert _api._plan(b)[0] is _api._one_blas_thread, "not limited"
ORIG = _blas.num_threads()
if ORIG < 2:   # OpenBLAS caps its threads at the CPUs this process may use
    print("SKIP", ORIG)
    sys.exit(0)
want = fastrnn.loss_and_grads(p, X, Y)[0]
"""


def run(body, timeout=120):
    pythonpath = [SRC] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    # two BLAS threads to limit, whatever the machine or the caller's setting
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath), OPENBLAS_NUM_THREADS="2")
    env.pop("OMP_NUM_THREADS", None)
    code = _SETUP + textwrap.dedent(body)
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=timeout,
                              capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: no exit within {timeout} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if proc.stdout.startswith("SKIP"):
        pytest.skip(f"OpenBLAS runs {proc.stdout.split()[1]} thread here: nothing to limit")
    return proc.stdout


def test_signal_handler_calling_fastrnn_mid_call():
    # the handler runs between two bytecodes of the main thread, often while
    # it is inside a call: a lock held there would deadlock the handler
    out = run("""
        seen = []
        busy = []
        def handler(signum, frame):
            if busy:   # a slow (debug, sanitized) build: no handler in a handler
                return
            busy.append(1)
            seen.append(fastrnn.loss_and_grads(p, X, Y)[0])
            busy.pop()
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 5e-4, 5e-4)
        end = time.monotonic() + 1.5
        n = 0
        while time.monotonic() < end:
            assert fastrnn.loss_and_grads(p, X, Y)[0] == want
            n += 1
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        assert seen and all(s == want for s in seen), seen[:3]
        assert _blas.depth() == 0 and _blas.num_threads() == ORIG, (_blas.depth(), _blas.num_threads())
        print(n, len(seen))
    """)
    calls, handled = map(int, out.split())
    assert calls > 10 and handled > 10


def test_exception_at_any_point_of_a_call_leaves_no_caller_inside():
    # a handler raising (as KeyboardInterrupt does) at random points of many
    # calls: none may leave the count up (BLAS on one thread for good)
    out = run("""
        class Stop(BaseException):   # as KeyboardInterrupt: no `except Exception` takes it
            pass
        def handler(signum, frame):
            raise Stop
        signal.signal(signal.SIGALRM, handler)
        rng = np.random.default_rng(2)
        stopped = 0
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-5, 4e-4))
                while True:
                    fastrnn.loss_and_grads(p, X, Y)
                    fastrnn.forward(p, X)
            except Stop:
                stopped += 1
            assert _blas.depth() == 0, _blas.depth()
            assert _blas.num_threads() == ORIG, _blas.num_threads()
        print(stopped)
    """)
    assert int(out) > 100


def test_fork_while_another_thread_is_inside_a_call():
    # the child starts with no caller inside and BLAS's setting restored,
    # and can call fastrnn (a lock inherited held would hang it)
    out = run("""
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads
        stop = threading.Event()
        def busy():
            while not stop.is_set():
                fastrnn.loss_and_grads(p, X, Y)
        t = threading.Thread(target=busy)
        t.start()
        bad = inside = 0
        for i in range(60):
            time.sleep(0.002)
            was = _blas.depth()
            pid = os.fork()
            if pid == 0:
                ok = _blas.depth() == 0 and _blas.num_threads() == ORIG
                ok = ok and fastrnn.loss_and_grads(p, X, Y)[0] == want
                ok = ok and _blas.depth() == 0 and _blas.num_threads() == ORIG
                os._exit(0 if ok else 3)
            deadline = time.monotonic() + 30
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    raise SystemExit(f"child {i} hung")
                time.sleep(0.001)
            bad += os.waitstatus_to_exitcode(status) != 0
            inside += was > 0
        stop.set()
        t.join()
        assert _blas.depth() == 0 and _blas.num_threads() == ORIG
        print(bad, inside)
    """)
    bad, inside = map(int, out.split())
    assert bad == 0
    assert inside > 0, "no fork happened while a call was inside; the test proves nothing"
