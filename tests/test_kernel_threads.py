"""The kernels on several threads (_pool.h, _kernels' team runs): each
thread takes a block of H's columns of every step of the recurrence (the team
meets once per step), rows of the output layer and the softmax, one half of
the batched gradients.  The answer must not depend on the thread count, bit
for bit, in every mode of the contract; a child forked after a threaded call
must work; the thread setting and the busy-machine backoff are obeyed.
"""
import os
import select
import threading
import time

import numpy as np
import pytest

import fastrnn
from fastrnn import _api, _kernels, _validate

from problems import MODES, make_problem

def kernel_call(p, X, Y, a0, lengths, threads, blas_serial=True):
    """forward and loss_and_grads through the gate, then the kernels directly
    with this many recurrence threads (blas_serial: the batched gradients'
    halves side by side); every output, in one list."""
    b = _validate.check_batch(p, X, Y, a0, lengths, need_Y=True)
    q, dt = b.p, b.p.dtype
    probs = np.empty((b.B, b.T, q.O), dt)
    A = np.empty((b.B, b.T, q.H), dt)
    a_last = np.empty((b.B, q.H), dt)
    ki = _api._kernel_inputs(b)
    _kernels.forward(*ki, b.lengths, b.a0, probs, A, a_last, False, threads)
    grads = [np.empty((q.I, q.H), dt), np.empty((q.H, q.H), dt), np.empty(q.H, dt),
             np.empty((q.O, q.H), dt), np.empty(q.O, dt), np.empty((b.B, q.H), dt),
             np.empty((b.B, q.H), dt)]
    loss = _kernels.loss_and_grads(*ki, b.Y, b.lengths, b.a0, *grads, False, threads,
                                   blas_serial)[0]
    return [probs, A, a_last, np.array(loss)] + grads


def assert_identical(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


# H: one panel short of a split, uneven splits, a partial last panel
SHAPES = [(33, 7), (50, 1), (70, 5), (128, 9)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("O", [11, 17])   # 17: a last panel of one column (the tail)
def test_threads_give_identical_bits(mode, dtype, O):
    for H, B in SHAPES:
        p, X, Y, a0, lengths = make_problem(mode, I=13, H=H, O=O, B=B, T=9,
                                            dtype=dtype, seed=H + B)
        one = kernel_call(p, X, Y, a0, lengths, 1)
        assert np.isfinite(one[3]) and np.abs(one[5]).max() > 0
        for threads in (2, 3):
            assert_identical(one, kernel_call(p, X, Y, a0, lengths, threads))
        assert_identical(one, kernel_call(p, X, Y, a0, lengths, 2, blas_serial=False))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_threads_match_reference(dtype, tol):
    """Every output of the threaded kernels (two threads, every phase split)
    against fastrnn.reference, relative to each array's largest value."""
    from fastrnn import reference
    p, X, Y, a0, lengths = make_problem("all", I=13, H=70, O=11, B=6, T=9, dtype=dtype,
                                        seed=3)
    out = kernel_call(p, X, Y, a0, lengths, 2)
    loss, grads, a_last = reference.loss_and_grads(p, X, Y, a0, lengths)
    probs, A = reference.forward(p, X, a0, lengths)
    want = [probs, A, a_last, np.array(loss), grads["Wax"].T, grads["Waa"], grads["ba"],
            grads["Wya"], grads["by"], grads["a0"], a_last]
    assert len(out) == len(want)
    for got, ref in zip(out, want):
        ref = np.asarray(ref, dtype=np.float64)
        assert np.abs(ref).max() > 0
        err = np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max()
        assert err <= tol, err


def test_barrier_that_sleeps_at_once_gives_identical_bits():
    """No spinning at the step's barrier: every wait goes to the futex."""
    p, X, Y, a0, lengths = make_problem("lengths", I=9, H=96, O=7, B=5, T=12,
                                        dtype=np.float32, seed=5)
    one = kernel_call(p, X, Y, a0, lengths, 1)
    old = _kernels._set_spin(0)
    try:
        for _ in range(20):
            assert_identical(one, kernel_call(p, X, Y, a0, lengths, 2))
    finally:
        _kernels._set_spin(old)


def test_python_threads_each_running_a_threaded_recurrence():
    problems = [make_problem("lengths", I=9, H=80, O=7, B=4, T=10, seed=s) for s in range(4)]
    serial = [kernel_call(*pr, 1) for pr in problems]
    results = [None] * len(problems)
    start = threading.Barrier(len(problems))

    def run(i):
        start.wait()
        for _ in range(5):
            results[i] = kernel_call(*problems[i], 2)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, r in zip(serial, results):
        assert_identical(s, r)


def test_thread_choice():
    """Above PAR_MIN_BHH all the threads the pool allows (at most one per
    16-column panel), below it one; one whenever BLAS takes the per-step
    products; an explicit count is taken as given (up to the panels)."""
    lim = _kernels.get_num_threads()
    lo = _kernels.par_min_bhh()
    # without the busy-machine backoff, which earlier threaded calls in the
    # same process may have switched on (test_busy_machine_backoff tests it)
    old = _kernels._set_backoff(False)
    try:
        assert _kernels._threads_for(1, 50, 0, False) == 1
        assert _kernels._threads_for(lo // (128 * 128), 128, 0, False) == min(lim, 8)
        assert _kernels._threads_for(lo // (128 * 128) - 1, 128, 0, False) == 1
        assert _kernels._threads_for(1024, 512, 0, True) == 1
        assert _kernels._threads_for(1, 50, 3, False) == 3
        assert _kernels._threads_for(1, 20, 3, False) == 2   # two panels
        assert _kernels._threads_for(1, 16, 3, False) == 1
    finally:
        _kernels._set_backoff(old)


def test_busy_machine_backoff():
    """Two calls in a row (with warm workers) whose threads waited more than
    half of their time for each other send the automatic choice to one thread
    for a while; a call after a pause is not judged; explicit counts and the
    thread setting are untouched; switching the backoff off clears it."""
    big = _kernels.par_min_bhh() // (128 * 128)
    old = _kernels._set_backoff(True)
    try:
        assert not _kernels._note_call(10_000_000, 4_000_000)      # 40% waiting
        assert not _kernels._note_call(10_000_000, 6_000_000)      # 60%: one strike
        assert not _kernels._note_call(10_000_000, 4_000_000)      # cleared
        assert not _kernels._note_call(10_000_000, 6_000_000)
        assert not _kernels._backing_off()
        time.sleep(0.05)                                         # workers cooled
        assert not _kernels._note_call(10_000_000, 9_000_000)      # not judged
        assert not _kernels._note_call(10_000_000, 6_000_000)      # first strike
        assert _kernels._note_call(10_000_000, 6_000_000)          # second: 640 ms
        assert _kernels._backing_off()
        assert _kernels._threads_for(big, 128, 0, False) == 1
        assert _kernels._threads_for(1, 128, 2, False) == min(2, 8)
        limit = _kernels.get_num_threads()
        _kernels._set_backoff(False)
        assert not _kernels._backing_off()
        assert _kernels._threads_for(big, 128, 0, False) == min(limit, 8)
        _kernels._set_backoff(True)
        assert not _kernels._backing_off()                      # cleared
    finally:
        _kernels._set_backoff(old)


def test_backoff_grows_while_busy_and_starts_over():
    """A backoff lasts 64 call durations; when the calls right after it wait
    too long again the next lasts twice as long; a judged call that did not
    wait too long starts over (so a moment's disturbance costs a moment)."""
    ms = 1_000_000
    old = _kernels._set_backoff(True)

    def trigger():
        # three calls back to back, ending now (time.monotonic_ns is the
        # kernels' clock): a pause in this thread cannot split them
        t = time.monotonic_ns() - 15 * ms
        assert not _kernels._note_call(5 * ms, 0, t)              # not judged, or fine
        assert not _kernels._note_call(5 * ms, 3 * ms, t + 5 * ms)  # first strike
        assert _kernels._note_call(5 * ms, 3 * ms, t + 10 * ms)     # 64 x 5 ms
        assert _kernels._backing_off()

    try:
        trigger()                                                 # 320 ms
        time.sleep(0.4)
        assert not _kernels._backing_off()
        trigger()                                                 # 640 ms
        time.sleep(0.4)
        assert _kernels._backing_off()
        time.sleep(0.3)
        assert not _kernels._backing_off()
        t = time.monotonic_ns() - 10 * ms
        assert not _kernels._note_call(5 * ms, 0, t)              # not judged
        assert not _kernels._note_call(5 * ms, 1 * ms, t + 5 * ms)  # fine: start over
        trigger()                                                 # 320 ms again
        time.sleep(0.4)
        assert not _kernels._backing_off()
    finally:
        _kernels._set_backoff(old)


def test_thread_setting():
    """set_num_threads bounds the automatic choice; 0 restores the default;
    bad values are refused with the argument's name."""
    big = _kernels.par_min_bhh() // (128 * 128)
    default = fastrnn.get_num_threads()
    assert default >= 1
    try:
        assert fastrnn.set_num_threads(1) == default
        assert fastrnn.get_num_threads() == 1
        assert _kernels._threads_for(big, 128, 0, False) == 1
        fastrnn.set_num_threads(3)
        assert _kernels._threads_for(big, 128, 0, False) in (1, 3)   # 1: backing off
        assert fastrnn.set_num_threads(0) == 3
        assert fastrnn.get_num_threads() == default
        with pytest.raises(TypeError, match="n must be an integer"):
            fastrnn.set_num_threads(1.5)
        with pytest.raises(ValueError, match="n must be <= 64"):
            fastrnn.set_num_threads(65)
    finally:
        fastrnn.set_num_threads(default)


def test_default_threads_follow_omp_num_threads():
    import subprocess
    import sys
    code = "import fastrnn; print(fastrnn.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "3"


def wait_child(pid, rfd, timeout):
    """The child's report through the pipe, or None if it did not finish in
    time (then it is killed)."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([rfd], [], [], 0.1)
        if ready:
            chunk = os.read(rfd, 1 << 16)
            if not chunk:
                break
            data += chunk
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return None
    os.waitpid(pid, 0)
    return data


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_after_a_threaded_call_runs_threaded():
    """The child of a fork has none of the parent's worker threads; the pool
    starts its own, and the child's threaded calls give the parent's bits."""
    p, X, Y, a0, lengths = make_problem("lengths", I=9, H=96, O=7, B=5, T=12, seed=8)
    parent = kernel_call(p, X, Y, a0, lengths, 2)   # the parent's team exists
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report and leave without running Python's cleanup
        try:
            os.close(rfd)
            out = kernel_call(p, X, Y, a0, lengths, 2)
            ok = all(np.array_equal(a, b) for a, b in zip(parent, out))
            os.write(wfd, f"{ok}".encode())
        finally:
            os._exit(0)
    os.close(wfd)
    try:
        report = wait_child(pid, rfd, timeout=60)
    finally:
        os.close(rfd)
    assert report is not None, "the forked child hung in the kernels"
    assert report.decode() == "True"


def test_public_functions_thread_above_the_threshold(monkeypatch):
    """forward and loss_and_grads at a size above PAR_MIN_BHH give the bits
    of one thread (the API passes threads=0: the kernels decide)."""
    p, X, Y, a0, lengths = make_problem("lengths", I=9, H=128, O=7, B=17, T=6,
                                        dtype=np.float32, seed=2)
    assert 17 * 128 * 128 >= _kernels.par_min_bhh()
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    probs, A = fastrnn.forward(p, X, a0, lengths)
    one = kernel_call(p, X, Y, a0, lengths, 1)
    assert_identical([probs, A, np.array(loss)], [one[0], one[1], one[3]])
    np.testing.assert_array_equal(grads["Waa"], one[5])
    np.testing.assert_array_equal(grads["Wax"], one[4].T)
    np.testing.assert_array_equal(a_last, one[10])


def test_plan_gives_fastrnns_threads_where_blas_has_one():
    """fastrnn's own threads (threads=0) in the one-thread range (BLAS
    limited for the call) and wherever BLAS has one thread; one thread where
    BLAS keeps several (its threads do the parallel work)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    lo, hi = _api.ONE_THREAD_STEP

    def plan(I, H, O, B, mode="steps"):
        p, X, Y, a0, lengths = make_problem(mode, I=I, H=H, O=O, B=B, T=2, seed=1)
        return _api._plan(_validate.check_batch(p, X, Y, None, None, need_Y=True))

    mid = plan(700, 128, 5, 32, "dense")   # in the range, small output layer, BLAS products
    assert mid[0] is _api._one_blas_thread and mid[1:] == (False, 0, True)
    mid = plan(5, 128, 5, 32)            # the same, every product the kernels' own
    assert mid[0] is _api._no_limit and mid[1:] == (False, 0, True)
    tiny = plan(5, 16, 5, 2)
    assert tiny[1:] == (False, 1, False)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if _api._blas_many():
            big = plan(5, 512, 5, 16)        # above the range
            assert big[0] is _api._no_limit and big[1:] == (True, 1, False)
            word = plan(5, 128, 1000, 32)    # in the range, big output layer
            assert word[0] is _api._no_limit and word[1:] == (False, 1, False)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        big = plan(5, 512, 5, 16)
        assert big[1:] == (False, 0, True)
        word = plan(5, 128, 1000, 32)
        assert word[1:] == (False, 0, True)


def test_team_sizes_changing_from_call_to_call():
    """Runs of different sizes, one after another, so that workers sit some
    runs out (a worker outside a run once could read the next run's
    parameters under the old run's number, run its share twice, and hang or
    write through a finished call's stack)."""
    p, X, Y, a0, lengths = make_problem("lengths", I=9, H=128, O=7, B=6, T=6,
                                        dtype=np.float32, seed=21)
    one = kernel_call(p, X, Y, a0, lengths, 1)
    old = _kernels._set_spin(0)      # workers asleep between runs, too
    try:
        for i in range(40):
            assert_identical(one, kernel_call(p, X, Y, a0, lengths, (3, 2, 4, 2)[i % 4]))
    finally:
        _kernels._set_spin(old)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("H,B", [(50, 1), (128, 1), (9, 3)])
def test_forward_a_last_equals_loss_and_grads_a_last(H, B, dtype):
    """forward's a_last (each sequence's state at its last step, read from
    the time-major states; at B = 1 those are forward's own A) equals
    loss_and_grads', bit for bit, full length and cut short, in one
    sequence's call (H = 50), step by step (H = 128) and in a batch."""
    for lengths in (None, np.arange(B) % 4 + 3):
        if B == 1 and lengths is not None:
            lengths = np.array([5])
        p, X, Y, a0, _ = make_problem("a0", I=7, H=H, B=B, T=8, dtype=dtype, seed=H)
        out = kernel_call(p, X, Y, a0, lengths, threads=1)
        A, a_last, a_last_lag = out[1], out[2], out[-1]
        np.testing.assert_array_equal(a_last, a_last_lag)
        n = np.full(B, 8) if lengths is None else lengths
        for b in range(B):
            np.testing.assert_array_equal(a_last[b], A[b, n[b] - 1])
            assert not A[b, n[b]:].any()
