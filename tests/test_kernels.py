"""The Cython kernels (fastrnn.forward / loss_and_grads) against fastrnn.reference."""
import contextlib
import os
import threading

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import fastrnn
from fastrnn import reference

from problems import MODES, make_problem

# relative error by norm, per the contract
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def up(p):
    return {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}


def up_x(X):
    X = np.asarray(X)
    return X.astype(np.float64) if X.dtype.kind == "f" else X


def check_against_reference(p, X, Y, a0, lengths, dtype):
    """Kernels in `dtype` against the float64 reference on the same numbers."""
    tol = TOL[dtype]
    a0_64 = None if a0 is None else np.asarray(a0, dtype=np.float64)
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    rloss, rgrads, ra_last = reference.loss_and_grads(up(p), up_x(X), Y, a0_64, lengths)
    assert isinstance(loss, float)
    assert abs(loss - rloss) <= tol * abs(rloss)
    assert set(grads) == set(rgrads)
    for k in rgrads:
        assert grads[k].dtype == dtype, k
        assert grads[k].shape == rgrads[k].shape, k
        assert rel(grads[k], rgrads[k]) <= tol, (k, rel(grads[k], rgrads[k]))
    assert a_last.dtype == dtype
    assert rel(a_last, ra_last) <= tol
    probs, A = fastrnn.forward(p, X, a0, lengths)
    rprobs, rA = reference.forward(up(p), up_x(X), a0_64, lengths)
    assert probs.dtype == dtype and A.dtype == dtype
    assert rel(probs, rprobs) <= tol and rel(A, rA) <= tol
    # padding is exactly zero, as in the reference
    np.testing.assert_array_equal(probs == 0, rprobs == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
def test_matches_reference_every_mode(mode, dtype):
    p, X, Y, a0, lengths = make_problem(mode, I=11, H=9, O=8, B=4, T=6, dtype=dtype,
                                        seed=11)
    check_against_reference(p, X, Y, a0, lengths, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("I,H,O,B,T", [
    (2, 1, 2, 1, 1),      # the smallest model
    (2, 1, 3, 1, 5),
    (5, 4, 5, 1, 1),      # T = 1
    (3, 7, 2, 6, 1),
    (27, 50, 27, 1, 25),  # the course's size
])
@pytest.mark.parametrize("mode", ["steps", "all", "many_to_one"])
def test_matches_reference_small_shapes(I, H, O, B, T, mode, dtype):
    p, X, Y, a0, lengths = make_problem(mode, I=I, H=H, O=O, B=B, T=T, dtype=dtype,
                                        seed=I + H + B + T)
    check_against_reference(p, X, Y, a0, lengths, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_reference_large_vocabulary(dtype):
    p, X, Y, a0, lengths = make_problem("lengths", I=5000, H=16, B=3, T=7, dtype=dtype,
                                        seed=13)
    check_against_reference(p, X, Y, a0, lengths, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_repeated_token_ids_accumulate(dtype):
    """The scatter-add of dWax must add, not overwrite, for repeated ids."""
    p, _, Y, _, _ = make_problem("steps", I=3, H=4, B=5, T=6, dtype=dtype, seed=17)
    X = np.ones((5, 6), dtype=np.int64)
    X[0, 0] = 2
    check_against_reference(p, X, Y, None, None, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_give_identical_numbers(dtype):
    """Strided, Fortran-order, read-only and list inputs equal the contiguous call."""
    p, X, Y, a0, lengths = make_problem("all", I=6, H=5, B=3, T=4, dtype=dtype, seed=19)
    p_ids, X_ids, Y_ids, _, _ = make_problem("ignore", I=6, H=5, B=3, T=4, dtype=dtype,
                                             seed=19)
    for (pp, XX, YY) in ((p, X, Y), (p_ids, X_ids, Y_ids)):
        base = fastrnn.loss_and_grads(pp, XX, YY, a0, lengths)
        variants = []
        # Fortran order everywhere
        variants.append(({k: np.asfortranarray(v) for k, v in pp.items()},
                         np.asfortranarray(XX), np.asfortranarray(YY)))
        # strided views into bigger arrays
        strided = {}
        for k, v in pp.items():
            big = np.zeros(tuple(2 * s for s in v.shape), dtype=v.dtype)
            big[tuple(slice(None, None, 2) for _ in v.shape)] = v
            strided[k] = big[tuple(slice(None, None, 2) for _ in v.shape)]
        bigX = np.zeros(tuple(2 * s for s in XX.shape), dtype=XX.dtype)
        bigX[tuple(slice(None, None, 2) for _ in XX.shape)] = XX
        variants.append((strided, bigX[tuple(slice(None, None, 2) for _ in XX.shape)], YY))
        # read-only
        ro = {k: v.copy() for k, v in pp.items()}
        for v in ro.values():
            v.flags.writeable = False
        Xro = XX.copy()
        Xro.flags.writeable = False
        variants.append((ro, Xro, YY))
        for vp, vX, vY in variants:
            out = fastrnn.loss_and_grads(vp, vX, vY, a0, lengths)
            assert out[0] == base[0]
            for k in base[1]:
                np.testing.assert_array_equal(out[1][k], base[1][k])
            np.testing.assert_array_equal(out[2], base[2])
    # array-likes: lists of ids and targets
    out = fastrnn.loss_and_grads(p_ids, X_ids.tolist(), Y_ids.tolist())
    base = fastrnn.loss_and_grads(p_ids, X_ids, Y_ids)
    assert out[0] == base[0]


def test_inputs_are_not_modified():
    p, X, Y, a0, lengths = make_problem("all", seed=23)
    copies = ({k: v.copy() for k, v in p.items()}, X.copy(), Y.copy(), a0.copy(),
              lengths.copy())
    fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    fastrnn.forward(p, X, a0, lengths)
    for k in p:
        np.testing.assert_array_equal(p[k], copies[0][k])
    for new, old in zip((X, Y, a0, lengths), copies[1:]):
        np.testing.assert_array_equal(new, old)


def test_padding_values_are_ignored():
    """Whatever the caller leaves in padded positions changes nothing."""
    p, X, Y, a0, lengths = make_problem("lengths", B=4, T=6, seed=29)
    base = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    X2, Y2 = X.copy(), Y.copy()
    for b, n in enumerate(lengths):
        X2[b, n:] = 10**6
        Y2[b, n:] = -7
    out = fastrnn.loss_and_grads(p, X2, Y2, a0, lengths)
    assert out[0] == base[0]
    for k in base[1]:
        np.testing.assert_array_equal(out[1][k], base[1][k])


def assert_threads_match_serial(problems, repeats):
    """Each problem run `repeats` times in its own thread equals the serial run."""
    serial = [fastrnn.loss_and_grads(*pr) for pr in problems]
    results = [None] * len(problems)

    def work(i):
        for _ in range(repeats):
            results[i] = fastrnn.loss_and_grads(*problems[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, r in zip(serial, results):
        assert s[0] == r[0]
        for k in s[1]:
            np.testing.assert_array_equal(s[1][k], r[1][k])


def test_threads_match_serial():
    assert_threads_match_serial([make_problem(m, I=30, H=40, B=8, T=20, seed=s)
                                 for s, m in enumerate(MODES)], repeats=5)


@settings(max_examples=60, deadline=None)
@given(I=st.integers(2, 12), H=st.integers(1, 10), O=st.integers(2, 9),
       B=st.integers(1, 5), T=st.integers(1, 7), mode=st.sampled_from(MODES),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_property_matches_reference(I, H, O, B, T, mode, dtype, seed):
    p, X, Y, a0, lengths = make_problem(mode, I=I, H=H, O=O, B=B, T=T, dtype=dtype,
                                        seed=seed)
    if mode in ("ignore", "all") and (np.asarray(Y) == -1).all():
        Y[0, 0] = 0
    if dtype == np.float32:
        # float32 stores a saturated a<t> = 0.99999... to 6e-8, so 1 - a^2 (the
        # BPTT factor) then carries a relative error of 6e-8 / (1 - a^2) in ANY
        # float32 implementation; with H = 1 it is the whole gradient.  Compare
        # float32 where float32 can hold the answer to 1e-4: |a| < 0.999.
        _, A = reference.forward(up(p), up_x(X), None if a0 is None else
                                 np.asarray(a0, np.float64), lengths)
        assume(np.abs(A).max() < 0.999)
        # Likewise a gradient that is a sum with cancellation (dby = sum over
        # steps of softmax - onehot, with O = 2 and a few steps, can be 1e-3
        # of its terms) has a float32 rounding error far above 1e-4 of itself.
        # The float32 NumPy reference measures what float32 arithmetic can do
        # on this example: compare where it is within a quarter of the
        # tolerance of the float64 answer.
        a0_64 = None if a0 is None else np.asarray(a0, np.float64)
        _, g32, _ = reference.loss_and_grads(p, X, Y, a0, lengths)
        _, g64, _ = reference.loss_and_grads(up(p), up_x(X), Y, a0_64, lengths)
        assume(all(rel(g32[k], g64[k]) <= TOL[np.float32] / 4 for k in g64))
    check_against_reference(p, X, Y, a0, lengths, dtype)


@contextlib.contextmanager
def spying_kernels(record):
    """fastrnn._api's kernels module replaced, inside the block, by a spy that
    calls record(args) before each kernel call."""
    from fastrnn import _api
    real = _api._kernels

    class Spy:
        def __getattr__(self, name):
            if name.endswith("_ids"):
                # the usual small call's own entry declines, so that every
                # call reaches the entry points spied on
                return lambda *args: None
            if name not in ("forward", "loss_and_grads"):
                return getattr(real, name)   # not a kernel (uses_blas)

            def call(*args):
                record(args)
                return getattr(real, name)(*args)
            return call

    _api._kernels = Spy()
    try:
        yield
    finally:
        _api._kernels = real


def blas_limits():
    """(library, threads) of every BLAS loaded, as threadpoolctl sees them."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return sorted((os.path.realpath(i["filepath"]), i["num_threads"])
                  for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")


def kernel_blas_threads():
    """The thread setting of the BLAS the kernels call (SciPy's), read by
    threadpoolctl, independently of fastrnn._blas."""
    from fastrnn import _blas
    if not _blas.limitable():
        pytest.skip("SciPy's BLAS here is not a pthreads OpenBLAS fastrnn can limit")
    mine = [n for path, n in blas_limits() if path == os.path.realpath(_blas.library())]
    assert len(mine) == 1, (blas_limits(), _blas.library())
    return mine[0]


def test_one_blas_thread_inside_small_steps_and_restored_after():
    """B*H*H in the one-thread range, a call with BLAS products (dense
    inputs of 700 features: X @ Wax.T and dWax too big for the kernels' own
    product): the kernels' BLAS runs on one thread, then is restored; any
    other BLAS (NumPy's own OpenBLAS) is left alone.  A call whose products
    are all the kernels' own (token ids, or 20 dense features) touches no
    setting."""
    from fastrnn import _api, _blas, _kernels
    orig = kernel_blas_threads()
    before = blas_limits()
    others = [x for x in before if x[0] != os.path.realpath(_blas.library())]
    lo, hi = _api.ONE_THREAD_STEP
    assert lo <= 8 * 96 * 96 < hi
    for mode, I, dtype, limited in [("dense", 700, np.float64, True),
                                    ("dense", 700, np.float32, True),
                                    ("dense", 20, np.float32, False),
                                    ("lengths", 20, np.float64, False)]:
        p, X, Y, a0, lengths = make_problem(mode, I=I, H=96, O=20, B=8, T=5, seed=31,
                                            dtype=dtype)
        assert _kernels.uses_blas(True, mode == "dense", 8, 5, I, 96, 20,
                                  np.dtype(dtype).itemsize) == limited
        seen = []
        with spying_kernels(lambda args: seen.append(
                (kernel_blas_threads(), _blas.depth(),
                 [x for x in blas_limits() if x[0] != os.path.realpath(_blas.library())]))):
            fastrnn.loss_and_grads(p, X, Y, a0, lengths)
            fastrnn.forward(p, X, a0, lengths)
        want = (1, 1, others) if limited else (orig, 0, others)
        assert seen == [want, want], (mode, I, dtype)
        assert blas_limits() == before and _blas.depth() == 0
        check_against_reference(p, X, Y, a0, lengths, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H, B, T", [(96, 8, 5), (128, 4, 64), (512, 1, 8), (600, 2, 30),
                                     (256, 32, 64)])
@pytest.mark.parametrize("I", [20, 700])
def test_uses_blas_follows_the_kernels_product_rule(dtype, H, B, T, I):
    """uses_blas (which decides whether a call limits BLAS) against the
    rule of _mm as documented: BLAS for a product whose packed W (k rows, n
    columns padded to 16) exceeds SMALL_W_BYTES, except weight gradients of
    at most 512 rows whose 128-row blocks fit."""
    from fastrnn import _kernels
    it = np.dtype(dtype).itemsize
    small = lambda k, n: k * (-(-n // 16) * 16) * it <= 256 * 1024  # noqa: E731

    def by_blas(trans_a, m, n, k):
        if small(k, n):
            return False
        return not (trans_a and m <= 512 and small(128, n))
    O = 65
    BT = B * T
    fwd = by_blas(False, BT, O, H)
    step = fwd or by_blas(False, BT, H, O) or by_blas(True, H, H, BT) or by_blas(True, O, H, BT)
    dense_fwd = fwd or by_blas(False, BT, H, I)
    dense_step = step or dense_fwd or by_blas(True, I, H, BT)
    assert _kernels.uses_blas(False, False, B, T, I, H, O, it) == fwd
    assert _kernels.uses_blas(True, False, B, T, I, H, O, it) == step
    assert _kernels.uses_blas(False, True, B, T, I, H, O, it) == dense_fwd
    assert _kernels.uses_blas(True, True, B, T, I, H, O, it) == dense_step
    if H <= (512 if dtype == np.float32 else 256):
        assert not step   # the usual training call: nothing for BLAS
        assert dense_step == (I == 700)


def test_a_setting_changed_during_a_call_is_kept():
    """The last call out restores the caller's setting only if BLAS is still
    on the one thread the limit set: a change made meanwhile (here from the
    kernels' spy, i.e. during the call) is kept, not overwritten."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastrnn import _blas
    orig = kernel_blas_threads()
    if orig < 2:
        pytest.skip("BLAS runs on one thread here")
    p, X, Y, a0, lengths = make_problem("dense", I=700, H=96, O=20, B=8, T=5, seed=33)
    changed = []
    try:
        with spying_kernels(lambda args: changed.append(
                threadpoolctl.threadpool_limits(limits=orig + 1, user_api="blas"))):
            fastrnn.loss_and_grads(p, X, Y, a0, lengths)
        assert kernel_blas_threads() == orig + 1 and _blas.depth() == 0
    finally:
        for c in changed:
            c.restore_original_limits()
        threadpoolctl.threadpool_limits(limits=orig, user_api="blas")
    assert kernel_blas_threads() == orig


def test_plan_does_not_depend_on_another_threads_call():
    """While another thread's call holds BLAS on one thread, a large call
    plans from the caller's setting (the same products, the same bits),
    not from the one thread of the call in flight."""
    from fastrnn import _api, _blas, _validate
    if kernel_blas_threads() < 2:
        pytest.skip("BLAS runs on one thread here")
    big = make_problem("steps", I=5, H=512, O=5, B=16, T=2, seed=0)
    bb = _validate.check_batch(big[0], big[1], big[2], None, None, need_Y=True)
    alone = _api._plan(bb)
    want = fastrnn.loss_and_grads(*big[:3])
    with _blas.OneBlasThread():          # as another thread's call inside
        assert _blas.num_threads() == 1 and _blas.depth() == 1
        assert _api._plan(bb) == alone
        got = fastrnn.loss_and_grads(*big[:3])
    assert got[0] == want[0]
    for k in want[1]:
        np.testing.assert_array_equal(got[1][k], want[1][k])


@pytest.mark.parametrize("threads, plan", [(-1, (False, 0, False)), (1, (False, 0, True))])
def test_plan_where_blas_cannot_be_limited(threads, plan, monkeypatch):
    """A BLAS fastrnn cannot limit (not a pthreads OpenBLAS): mid-sized calls
    still use fastrnn's threads for the steps; the gradients' halves run side
    by side only when BLAS is known to run on one thread (an OpenBLAS built
    without threads)."""
    from fastrnn import _api, _validate

    class Unlimitable:
        OneBlasThread = _api._blas.OneBlasThread

        @staticmethod
        def limitable():
            return False

        @staticmethod
        def caller_threads():
            return threads

    monkeypatch.setattr(_api, "_blas", Unlimitable)
    mid = make_problem("dense", I=700, H=128, O=5, B=32, T=2, seed=1)   # BLAS projections
    b = _validate.check_batch(mid[0], mid[1], mid[2], None, None, need_Y=True)
    assert _api._plan(b)[1:] == plan
    check_against_reference(*mid[:3], None, None, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["steps", "lengths", "dense", "many_to_one"])
def test_blas_per_step_products_match_reference(mode, dtype, monkeypatch):
    # the per-step products by BLAS (what large steps use when BLAS has
    # several threads), forced at a small size: the same answers
    from fastrnn import _api
    monkeypatch.setattr(_api, "_plan", lambda b: (_api._no_limit, True, 1, False))
    monkeypatch.setattr(_api, "_USUAL_MAX_BHH", 0)   # every call through _plan
    for H, B in ((9, 4), (40, 7)):
        p, X, Y, a0, lengths = make_problem(mode, I=11, H=H, O=8, B=B, T=6, dtype=dtype,
                                            seed=H + B)
        check_against_reference(p, X, Y, a0, lengths, dtype)


def test_per_step_products_by_blas_only_when_it_has_threads():
    """Above the one-thread range the per-step products go to BLAS when BLAS
    may use several threads, to the kernels' own product when it has one;
    below it, always to the own product."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastrnn import _api, _validate
    lo, hi = _api.ONE_THREAD_STEP
    big = make_problem("steps", I=5, H=512, O=5, B=16, T=2, seed=0)
    small = make_problem("steps", I=5, H=64, O=5, B=4, T=2, seed=0)
    bb = _validate.check_batch(big[0], big[1], big[2], None, None, need_Y=True)
    bs = _validate.check_batch(small[0], small[1], small[2], None, None, need_Y=True)
    assert bb.B * bb.p.H ** 2 >= hi and bs.B * bs.p.H ** 2 < hi
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert not _api._plan(bb)[1]
        assert not _api._plan(bs)[1]
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if kernel_blas_threads() < 2:
            pytest.skip("BLAS runs on one thread here")
        old = fastrnn.set_num_threads(2)   # whatever fastrnn's own threads
        try:
            assert _api._plan(bb)[1]
            assert not _api._plan(bs)[1]
            # and the kernels are told so (blas_steps follows the 12 arrays of
            # forward, the 17 of loss_and_grads)
            seen = []
            with spying_kernels(lambda args: seen.append(
                    args[17] if len(args) > 17 + 1 else args[12])):
                fastrnn.loss_and_grads(*big[:3])
                fastrnn.forward(big[0], big[1])
                fastrnn.loss_and_grads(*small[:3])
            assert seen == [True, True, False]
        finally:
            fastrnn.set_num_threads(old)


def test_big_output_layer_keeps_the_callers_blas_threads():
    """In the one-thread range of B*H*H, a Wya too big for the kernels' own
    product (its three products go to BLAS) keeps the caller's setting."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastrnn import _api
    p, X, Y, a0, lengths = make_problem("lengths", I=20, H=96, O=1000, B=8, T=3, seed=32,
                                        dtype=np.float32)
    lo, hi = _api.ONE_THREAD_STEP
    assert lo <= 8 * 96 * 96 < hi and 1000 * 96 * 4 > _api.BIG_OUTPUT_BYTES
    seen = []
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        want = kernel_blas_threads()
        with spying_kernels(lambda args: seen.append(kernel_blas_threads())):
            fastrnn.loss_and_grads(p, X, Y, a0, lengths)
            fastrnn.forward(p, X, a0, lengths)
    assert seen == [want, want]
    check_against_reference(p, X, Y, a0, lengths, np.float32)


@pytest.mark.parametrize("H,O,dtype,big", [
    (96, 1000, np.float32, True),    # Wya.T packed: 96 x 1008
    (100, 600, np.float32, True),    # Wya packed: 600 x 112 floats = 268,800 bytes
    (100, 600, np.float64, True),
    (128, 500, np.float32, False),   # 128 x 512 and 500 x 128 floats: 256,000 bytes
    (256, 65, np.float32, False),    # the `fastrnn train` model
])
def test_big_output_is_the_kernels_blas_choice(H, O, dtype, big):
    # the thread policy's "output layer goes to BLAS" must be the kernels'
    # own rule (_small_w on the packed sizes of Wya.T and Wya)
    from fastrnn import _api, _validate
    p = fastrnn.init_params(3, H, O, dtype=dtype, seed=0)
    assert _api._big_output(_validate.check_batch(p, np.zeros((1, 1), np.intp)).p) is big


def test_threads_in_one_thread_range_match_serial_and_restore_limits():
    before = blas_limits()
    assert_threads_match_serial([make_problem(m, I=20, H=96, B=8, T=6, seed=s)
                                 for s, m in enumerate(MODES)], repeats=3)
    assert blas_limits() == before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("H,O,B", [(16, 8, 5), (64, 65, 5), (72, 30, 5), (200, 100, 5),
                                   (300, 20, 7), (40, 10, 130)])
def test_own_product_and_blas_paths_match_reference(H, O, B, dtype):
    # H, O chosen so that the output and gradient products go through the
    # kernels' own packed product in some cases and BLAS in others (see
    # _small_w in _kernels.pyx); H = 300 splits the per-step products' k in
    # blocks (FR_KC = 256) with a partial last panel, B = 130 their rows
    # (FR_MC = 120)
    for mode in ("steps", "lengths", "dense"):
        p, X, Y, a0, lengths = make_problem(mode, I=13, H=H, O=O, B=B, T=6, dtype=dtype,
                                            seed=H + O)
        check_against_reference(p, X, Y, a0, lengths, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("H,O,B,T", [(128, 65, 40, 20), (100, 600, 9, 70), (24, 7, 250, 20)])
def test_weight_gradients_in_blocks_of_rows_match_reference(H, O, B, T, dtype):
    # dWaa = dZ.T @ A and dWya = dL.T @ A over B*T rows too many for one
    # packed operand: in float32 the kernels' own product takes A a block of
    # rows at a time (_mm in _kernels.pyx: 512 rows of 128 columns, so 800 =
    # 512 + 288, a partial last block; 630 rows of 100 columns: dWaa in
    # blocks of 585 + 45, dWya, 600 output rows, more than KBLOCK_MAX_M, by
    # BLAS; 5000 rows of 24 (32 packed) columns in blocks of 2048); float64
    # by BLAS
    for mode in ("steps", "lengths", "ignore"):
        p, X, Y, a0, lengths = make_problem(mode, I=13, H=H, O=O, B=B, T=T, dtype=dtype,
                                            seed=H + B)
        check_against_reference(p, X, Y, a0, lengths, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_reused_workspace_is_never_read_before_written(dtype):
    # each thread keeps its kernel workspace between calls; poison it with NaN
    # and every result must be the same bits as with a clean one
    from fastrnn import _kernels
    if not _kernels._WORK_CACHE:
        pytest.skip("workspace cache off (FASTRNN_NO_WORK_CACHE=1)")
    name = np.dtype(dtype).name
    for mode in MODES:
        for H in (5, 16, 64):   # partial and whole panels; BLAS at H = 64 (dWya, dWaa)
            p, X, Y, a0, lengths = make_problem(mode, I=9, H=H, O=11, B=5, T=6,
                                                dtype=dtype, seed=H)
            want = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
            want_fwd = fastrnn.forward(p, X, a0, lengths)
            _kernels._workspace_buffer(name).fill(np.nan)
            got = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
            _kernels._workspace_buffer(name).fill(np.nan)
            got_fwd = fastrnn.forward(p, X, a0, lengths)
            assert got[0] == want[0]
            for k in want[1]:
                np.testing.assert_array_equal(got[1][k], want[1][k])
            np.testing.assert_array_equal(got[2], want[2])
            for g, w in zip(got_fwd, want_fwd):
                np.testing.assert_array_equal(g, w)


def test_each_thread_has_its_own_workspace():
    # the cached workspace lives in the thread's state: another thread
    # starts without one, makes its own, and leaves this thread's alone
    from fastrnn import _kernels
    if not _kernels._WORK_CACHE:
        pytest.skip("workspace cache off (FASTRNN_NO_WORK_CACHE=1)")
    p, X, Y, a0, lengths = make_problem("all", I=7, H=20, B=3, T=5, dtype=np.float32,
                                        seed=5)
    fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    mine = _kernels._workspace_buffer("float32")
    seen = {}

    def other():
        seen["before"] = _kernels._workspace_buffer("float32")
        fastrnn.loss_and_grads(p, X, Y, a0, lengths)
        seen["after"] = _kernels._workspace_buffer("float32")

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert mine is not None and seen["before"] is None
    assert seen["after"] is not None and not np.shares_memory(seen["after"], mine)
    assert _kernels._workspace_buffer("float32") is mine


def test_a_foreign_object_under_the_workspace_key_is_replaced():
    # the thread state's dict is shared by every extension: whatever sits
    # under the workspace's key is used only if it is a contiguous,
    # writeable float array of the right dtype, else replaced
    from fastrnn import _kernels
    if not _kernels._WORK_CACHE:
        pytest.skip("workspace cache off (FASTRNN_NO_WORK_CACHE=1)")
    p, X, Y, a0, lengths = make_problem("all", I=7, H=20, B=3, T=5, dtype=np.float32,
                                        seed=6)
    want = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    big = np.zeros(2 * 10**6, np.float32)
    for junk in ("a string", np.zeros(10**6, np.uint8), np.zeros(10**6), big[::2], big[::-1],
                 np.frombuffer(bytes(4 * 10**6), np.float32)):
        _kernels._set_workspace_buffer("float32", junk)
        got = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[1]["Waa"], want[1]["Waa"])
        assert _kernels._workspace_buffer("float32").dtype == np.float32
        # not a strided, reversed or read-only view either: the kernels
        # write the workspace in a row from its start
        assert _kernels._workspace_buffer("float32") is not junk
    assert not big.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_workspace_at_any_alignment_gives_the_same_bits(dtype):
    """The kernels round the workspace's start up to a 64-byte boundary
    (NumPy's buffers are 16-byte aligned): a cached workspace starting at
    any offset from a cache line, used by the usual call and by the gate's
    path, changes no bit."""
    from fastrnn import _api, _kernels
    if not _kernels._WORK_CACHE:
        pytest.skip("workspace cache off (FASTRNN_NO_WORK_CACHE=1)")
    name = np.dtype(dtype).name
    item = np.dtype(dtype).itemsize
    cases = [make_problem("steps", I=27, H=50, O=27, B=1, T=25, dtype=dtype, seed=8),
             make_problem("all", I=7, H=20, B=3, T=5, dtype=dtype, seed=9)]
    want = [(fastrnn.forward(p, X, a0, lengths), fastrnn.loss_and_grads(p, X, Y, a0, lengths))
            for p, X, Y, a0, lengths in cases]
    size = _kernels._workspace_buffer(name).size
    for offset in range(0, 64, item):
        raw = np.zeros(size * item + 128, np.uint8)
        start = (-raw.ctypes.data) % 64 + offset          # this far past a cache line
        buf = raw[start:start + size * item].view(dtype)
        assert buf.ctypes.data % 64 == offset
        _kernels._set_workspace_buffer(name, buf)
        for (p, X, Y, a0, lengths), (fwd, step) in zip(cases, want):
            got_fwd = fastrnn.forward(p, X, a0, lengths)
            got_step = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
            assert _kernels._workspace_buffer(name) is buf   # it was used
            for a, b in zip(got_fwd, fwd):
                np.testing.assert_array_equal(a, b)
            assert got_step[0] == step[0]
            for k in step[1]:
                np.testing.assert_array_equal(got_step[1][k], step[1][k])
            np.testing.assert_array_equal(got_step[2], step[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_are_fresh_owned_arrays(dtype):
    # the kernels make the outputs (np.empty's work, from C): every call
    # returns new, writeable, C-contiguous arrays of the parameters' dtype,
    # sharing no memory with each other or with an earlier call's
    p, X, Y, a0, lengths = make_problem("all", I=7, H=20, B=3, T=5, dtype=dtype, seed=4)
    first = fastrnn.forward(p, X, a0, lengths)
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    second = fastrnn.forward(p, X, a0, lengths)
    arrays = list(first) + list(second) + list(grads.values()) + [a_last]
    for a in arrays:
        assert a.dtype == dtype and a.flags.writeable
        assert a.base is None or a.base.base is None  # Wax's gradient is dWax.T
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
        assert a.flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("H", [1, 3, 8, 17])
def test_one_sequence_long_with_a_small_state(H, dtype):
    """fr_rec1 stores each state by whole vectors (16 floats, 8 doubles a
    panel) while the rows left have room, the padding landing in rows the
    next steps overwrite; tiny states over many steps, full length and cut
    short, equal the batched path bit for bit."""
    T = 40
    p, X, Y, a0, lengths = make_problem("a0", I=5, H=H, B=1, T=T, dtype=dtype, seed=H)
    Xb = np.concatenate([X, X])
    a0b = np.concatenate([a0, a0])
    for n in (T, T - 1, 17, 2, 1):
        probs, A = fastrnn.forward(p, X, a0, np.array([n]))
        probs_b, A_b = fastrnn.forward(p, Xb, a0b, np.array([n, T]))
        np.testing.assert_array_equal(A, A_b[:1], err_msg=f"n={n}")
        np.testing.assert_array_equal(probs, probs_b[:1], err_msg=f"n={n}")
        assert not A[0, n:].any()
        _, _, a_last = fastrnn.loss_and_grads(p, X, Y, a0, np.array([n]))
        _, _, a_last_b = fastrnn.loss_and_grads(p, Xb, np.concatenate([Y, Y]), a0b,
                                                np.array([n, T]))
        np.testing.assert_array_equal(a_last, a_last_b[:1], err_msg=f"n={n}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["steps", "all"])
def test_one_sequence_equals_its_row_of_a_batch(mode, dtype):
    """A single sequence whose state fits in registers runs every step in one
    call (_packgemm.h fr_rec1); its numbers equal, bit for bit, those of the
    same sequence in a batch (the per-step product path), at sizes on both
    sides of each panel boundary and of the register path's limit (112
    floats, 56 doubles)."""
    for H in (1, 7, 8, 9, 16, 17, 50, 56, 57, 64, 100, 112, 113):
        p, X, Y, a0, lengths = make_problem(mode, I=9, H=H, B=3, T=11, dtype=dtype,
                                            seed=H)
        probs, A = fastrnn.forward(p, X, a0, lengths)
        loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
        for b in range(3):
            sl = slice(b, b + 1)
            a0_b = None if a0 is None else a0[sl]
            len_b = None if lengths is None else lengths[sl]
            probs_b, A_b = fastrnn.forward(p, X[sl], a0_b, len_b)
            np.testing.assert_array_equal(A_b, A[sl], err_msg=f"H={H} b={b}")
            np.testing.assert_array_equal(probs_b, probs[sl], err_msg=f"H={H} b={b}")
            _, _, a_last_b = fastrnn.loss_and_grads(p, X[sl], Y[sl], a0_b, len_b)
            np.testing.assert_array_equal(a_last_b, a_last[sl], err_msg=f"H={H} b={b}")
        # and alone against the reference
        check_against_reference(p, X[:1], Y[:1], None if a0 is None else a0[:1],
                                None if lengths is None else lengths[:1], dtype)
