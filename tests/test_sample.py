"""fastrnn.sampling.sample (Cython kernel) against fastrnn.reference.sample.

The two twins draw the same uniforms (one per token, in order) and pick by
inverse CDF, so they return the same ids for the same seed, except where a
uniform falls within rounding of a CDF boundary: their products sum in
different orders, so their logits may differ in the last bits
(``assert_twins_agree`` checks that such a parting draw was that close, and
compares nothing after it).  Independently of
the twins, the ids are checked against fastrnn.forward's probabilities, greedy
decoding and the empirical distribution of many draws.
"""
import doctest
import threading

import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from fastrnn import sampling
from fastrnn._validate import FastRNNIndexError
from fastrnn.sampling import sample

DTYPES = [np.float32, np.float64]
IMPLS = {"kernel": sample, "reference": reference.sample}


def make_params(V=7, H=5, dtype=np.float64, seed=0):
    """Random params with random (non-zero) biases and a recurrence that matters."""
    rng = np.random.default_rng(seed + 1000)
    p = fastrnn.init_params(V, H, dtype=dtype, seed=seed)
    p["ba"] = rng.normal(0, 0.5, H).astype(dtype)
    p["by"] = rng.normal(0, 1.0, V).astype(dtype)
    p["Waa"] = rng.normal(0, 1.0 / np.sqrt(H), (H, H)).astype(dtype)
    p["Wya"] = rng.normal(0, 2.0 / np.sqrt(H), (V, H)).astype(dtype)  # peaky softmax
    return p


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def first_logits(p, prime=None, a0=None):
    """Logits (float64) of the first generated token."""
    q = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    a = np.zeros(q["Waa"].shape[0]) if a0 is None else np.asarray(a0, dtype=np.float64)
    for x in [] if prime is None else prime:
        a = np.tanh(q["Waa"] @ a + q["Wax"][:, x] + q["ba"])
    return q["Wya"] @ a + q["by"]


# ---------------------------------------------------------------- kernel == reference

# How close to a CDF boundary (relative to the CDF's total) a uniform may fall
# for the twins to pick either side of it: float32 logits are rounded to
# ~6e-8 relative, and the state that produced them carries the rounding of
# every earlier step
BOUNDARY_TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def assert_twins_agree(ids, ref, p, seed, prime=None, a0=None, temperature=1.0,
                       top_k=None, stop_id=None):
    """The kernel's ids equal the reference's, or they are equal up to a token
    whose uniform u fell within BOUNDARY_TOL of the CDF boundary between the
    two picks (computed in float64 along the ids both fed back), after which
    the two sequences are free to differ."""
    ids, ref = np.asarray(ids), np.asarray(ref)
    if np.array_equal(ids, ref):
        return
    n = min(len(ids), len(ref))
    n = int(np.flatnonzero(ids[:n] != ref[:n])[0]) if (ids[:n] != ref[:n]).any() else n
    assert n < min(len(ids), len(ref)), (
        f"one twin stopped early: {ids.tolist()} against {ref.tolist()}")
    q = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    H, V = q["Waa"].shape[0], q["Wya"].shape[0]
    a = np.zeros(H) if a0 is None else np.asarray(a0, dtype=np.float64)
    for x in list([] if prime is None else prime) + ids[:n].tolist():
        a = np.tanh(q["Waa"] @ a + q["Wax"][:, x] + q["ba"])
    z = q["Wya"] @ a + q["by"]
    kept = np.sort(np.argsort(-z, kind="stable")[:V if top_k is None else top_k])
    e = np.exp((z[kept] - z.max()) / temperature)
    cdf = np.cumsum(e)
    u = np.random.default_rng(seed).random(n + 1)[n] * cdf[-1]
    i, j = sorted((int(np.searchsorted(kept, ids[n])), int(np.searchsorted(kept, ref[n]))))
    tol = BOUNDARY_TOL[np.asarray(p["Wax"]).dtype] * cdf[-1]
    # the picks straddle the boundaries cdf[i] .. cdf[j - 1]: u must sit on them
    assert abs(cdf[i] - u) <= tol and abs(cdf[j - 1] - u) <= tol, (
        f"the twins part at token {n} ({ids[n]} against {ref[n]}) with u "
        f"{u / cdf[-1]:.9f}, not at a CDF boundary: {(cdf / cdf[-1]).tolist()}")


CONFIGS = [
    {},
    {"prime": [1, 2, 3]},
    {"a0": "random"},
    {"prime": [0], "a0": "random"},
    {"temperature": 0.5},
    {"temperature": 2.0, "prime": [4, 4]},
    {"top_k": 1},
    {"top_k": 3},
    {"top_k": "O"},
    {"top_k": 3, "temperature": 0.5, "prime": [2]},
    {"stop_id": 0},
    {"stop_id": 2, "top_k": 3, "temperature": 2.0, "a0": "random"},
]


def resolve(cfg, p, seed):
    V, H = p["Wya"].shape
    dtype = p["Wax"].dtype
    kw = dict(cfg)
    if kw.get("a0") == "random":
        kw["a0"] = np.random.default_rng(seed).uniform(-1, 1, H).astype(dtype)
    if kw.get("top_k") == "O":
        kw["top_k"] = V
    return kw


def cfg_id(cfg):
    return ",".join(f"{k}={v}" for k, v in cfg.items()) or "default"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_matches_reference(cfg, dtype):
    for V, H, length in ((7, 5, 60), (27, 50, 60), (65, 128, 40)):
        p = make_params(V, H, dtype, seed=V + H)
        for seed in range(12):
            kw = resolve(cfg, p, seed)
            ids = sample(p, length, seed=seed, **kw)
            ref = reference.sample(p, length, seed=seed, **kw)
            assert ids.dtype == np.intp and ref.dtype == np.intp
            assert_twins_agree(ids, ref, p, seed, **kw)
            assert ((0 <= ids) & (ids < V)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_twins_agree_accepts_only_a_draw_on_a_boundary(dtype):
    # the comparison above can fail: a changed id where u is far from every
    # boundary is caught, and a parting exactly where u sits on one is not
    p = make_params(27, 50, dtype, seed=77)
    ref = reference.sample(p, 30, seed=5)
    bad = ref.copy()
    bad[7] = (bad[7] + 1) % 27
    with pytest.raises(AssertionError, match="part at token 7"):
        assert_twins_agree(bad, ref, p, 5)
    with pytest.raises(AssertionError, match="stopped early"):
        assert_twins_agree(ref[:10], ref, p, 5)
    # two classes with softmax [u0, 1 - u0], u0 the first uniform of seed 0:
    # the boundary is u0 itself, so either class is a right pick
    u0 = np.random.default_rng(0).random()
    q = make_params(2, 1, dtype, seed=0)
    q["Wya"][:] = 0
    q["by"][:] = np.log([u0, 1 - u0])
    assert_twins_agree(np.array([0]), np.array([1]), q, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference_long(dtype):
    """A thousand tokens: the state is carried through every fed-back id."""
    p = make_params(65, 128, dtype, seed=3)
    for seed in range(3):
        assert_twins_agree(sample(p, 1000, seed=seed, prime=[5, 6]),
                           reference.sample(p, 1000, seed=seed, prime=[5, 6]), p, seed,
                           prime=[5, 6])


@pytest.mark.parametrize("V,H", [(1, 1), (2, 1), (1, 4), (3, 2)])
def test_smallest_models(V, H):
    for dtype in DTYPES:
        p = make_params(V, H, dtype, seed=V * 10 + H)
        for seed in range(5):
            ids = sample(p, 20, seed=seed, prime=[0])
            assert_twins_agree(ids, reference.sample(p, 20, seed=seed, prime=[0]), p, seed,
                               prime=[0])
            if V == 1:
                np.testing.assert_array_equal(ids, np.zeros(20, dtype=np.intp))


# ---------------------------------------------------------------- the draws

def test_uniforms_up_front_equal_one_at_a_time():
    """The kernel's rng.random(n) is the reference's n calls of rng.random()."""
    for seed in (0, 1, 12345, 2**40 + 7):
        for n in (0, 1, 2, 3, 17, 1000):
            block = np.random.default_rng(seed).random(n)
            rng = np.random.default_rng(seed)
            one_by_one = np.array([rng.random() for _ in range(n)])
            np.testing.assert_array_equal(block, one_by_one)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inverse_cdf_of_forward_probabilities(dtype):
    """Token t is searchsorted(cumsum(ŷ<t>), u_t), u = default_rng(seed).random(n),
    ŷ<t> from fastrnn.forward on the fed-back ids: one draw per token, in order."""
    p = make_params(11, 9, dtype, seed=5)
    prime = [3, 1]
    for seed in range(20):
        ids = sample(p, 30, prime=prime, seed=seed)
        u = np.random.default_rng(seed).random(30)
        X = np.array([prime + ids[:-1].tolist()])
        probs, _ = fastrnn.forward(p, X)
        cdf = np.cumsum(probs[0, len(prime) - 1:].astype(np.float64), axis=1)
        cdf /= cdf[:, -1:]
        expect = [int(np.searchsorted(c, ut, side="right")) for c, ut in zip(cdf, u)]
        np.testing.assert_array_equal(ids, expect)


@pytest.mark.parametrize("dtype", DTYPES)
def test_top_k_1_is_greedy(dtype):
    p = make_params(13, 8, dtype, seed=6)
    prime = [2, 7, 1]
    for seed in range(5):
        ids = sample(p, 40, prime=prime, top_k=1, seed=seed)
        X = np.array([prime + ids[:-1].tolist()])
        probs, _ = fastrnn.forward(p, X)
        np.testing.assert_array_equal(ids, probs[0, len(prime) - 1:].argmax(axis=1))
        # the draws do not matter
        np.testing.assert_array_equal(ids, sample(p, 40, prime=prime, top_k=1, seed=seed + 99))
    # no prime: the first token is argmax(Wya a0 + by), with ties to the lower id
    np.testing.assert_array_equal(sample(p, 1, top_k=1)[0], np.argmax(first_logits(p)))
    p2 = {k: v.copy() for k, v in p.items()}
    p2["Wya"][:] = 0
    p2["by"][:] = 0
    p2["by"][[4, 9]] = 1.0  # a tie
    assert sample(p2, 1, top_k=1)[0] == 4
    assert reference.sample(p2, 1, top_k=1)[0] == 4


def test_top_k_ties_keep_the_lower_ids():
    p = make_params(6, 3, np.float64, seed=7)
    p["Wya"][:] = 0
    p["by"][:] = [0.0, 1.0, 1.0, 0.5, 1.0, 1.0]
    for impl in IMPLS.values():
        got = {int(impl(p, 1, top_k=2, seed=s)[0]) for s in range(200)}
        assert got == {1, 2}
        got = {int(impl(p, 1, top_k=5, seed=s)[0]) for s in range(400)}
        assert got == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("temperature,top_k,with_prime", [
    (1.0, None, False), (2.0, 3, False), (0.5, None, True), (1.0, 4, True)])
def test_first_token_distribution(impl, temperature, top_k, with_prime):
    """Over many seeds the first token follows softmax(logits / T) over the top_k."""
    fn = IMPLS[impl]
    p = make_params(7, 5, np.float64, seed=8)
    a0 = np.linspace(-0.5, 0.5, 5)
    prime = [3, 0] if with_prime else None
    z = first_logits(p, prime, a0) / temperature
    keep = np.argsort(-z, kind="stable")[:top_k or len(z)]
    expect = np.zeros(len(z))
    expect[keep] = softmax(z[keep])
    N = 20000 if impl == "kernel" else 4000
    counts = np.bincount([fn(p, 1, prime=prime, a0=a0, temperature=temperature,
                             top_k=top_k, seed=s)[0] for s in range(N)], minlength=len(z))
    assert counts[expect == 0].sum() == 0
    # every class within 5 standard deviations of its binomial mean
    sd = np.sqrt(N * expect * (1 - expect))
    assert (np.abs(counts - N * expect) <= 5 * sd + 1).all(), (counts, N * expect)


def test_temperature_sharpens_and_flattens():
    p = make_params(7, 5, np.float64, seed=9)
    ent = {}
    for T in (0.25, 1.0, 4.0):
        ids = np.concatenate([sample(p, 50, temperature=T, seed=s) for s in range(40)])
        freq = np.bincount(ids, minlength=7) / ids.size
        ent[T] = -(freq[freq > 0] * np.log(freq[freq > 0])).sum()
    assert ent[0.25] < ent[1.0] < ent[4.0]


# ---------------------------------------------------------------- seeds, lengths, stop

@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_same_seed_same_ids(impl):
    fn = IMPLS[impl]
    p = make_params(9, 6, np.float32, seed=10)
    a = fn(p, 50, seed=123, prime=[1])
    np.testing.assert_array_equal(a, fn(p, 50, seed=123, prime=[1]))
    np.testing.assert_array_equal(a, fn(p, 50, seed=np.random.default_rng(123), prime=[1]))
    others = [fn(p, 50, seed=s, prime=[1]) for s in range(124, 130)]
    assert any(not np.array_equal(a, o) for o in others)


def test_seed_none_draws_fresh():
    p = make_params(9, 6, np.float64, seed=11)
    outs = {tuple(sample(p, 30)) for _ in range(5)}
    assert len(outs) > 1


def test_generator_seed_advances_by_length():
    """Documented: the kernel draws all `length` uniforms up front."""
    p = make_params(9, 6, np.float64, seed=12)
    rng = np.random.default_rng(5)
    sample(p, 10, seed=rng, stop_id=int(sample(p, 1, seed=5)[0]))  # stops at once
    expect = np.random.default_rng(5)
    expect.random(10)
    assert rng.random() == expect.random()


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_length_zero_is_empty(impl, dtype):
    fn = IMPLS[impl]
    p = make_params(5, 4, dtype)
    for kw in ({}, {"prime": [1, 2]}, {"stop_id": 0, "top_k": 2}):
        out = fn(p, 0, seed=0, **kw)
        assert out.shape == (0,) and out.dtype == np.intp


@pytest.mark.parametrize("dtype", DTYPES)
def test_stop_id_ends_generation(dtype):
    p = make_params(5, 4, dtype, seed=13)
    stopped = 0
    for seed in range(30):
        full = sample(p, 40, seed=seed)
        for stop in range(5):
            out = sample(p, 40, seed=seed, stop_id=stop)
            assert_twins_agree(out, reference.sample(p, 40, seed=seed, stop_id=stop), p, seed,
                               stop_id=stop)
            hits = np.flatnonzero(full == stop)
            if hits.size:
                # the same draws: the prefix of the full run, up to and including stop_id
                np.testing.assert_array_equal(out, full[:hits[0] + 1])
                stopped += 1
            else:
                np.testing.assert_array_equal(out, full)
    assert stopped > 50


def test_returned_ids_exclude_the_prime():
    p = make_params(5, 4, np.float64, seed=14)
    assert sample(p, 3, prime=[1, 2, 3, 4], seed=0).shape == (3,)


@pytest.mark.parametrize("empty", [[], (), np.array([], dtype=np.int64), np.array([])])
def test_empty_prime_is_no_prime(empty):
    p = make_params(5, 4, np.float64, seed=15)
    for impl in IMPLS.values():
        np.testing.assert_array_equal(impl(p, 20, prime=empty, seed=1), impl(p, 20, seed=1))


# ---------------------------------------------------------------- layouts and inputs

@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_and_array_likes_give_identical_ids(dtype):
    p = make_params(8, 6, dtype, seed=16)
    a0 = np.random.default_rng(0).uniform(-1, 1, 6).astype(dtype)
    base = sample(p, 50, prime=[1, 2], a0=a0, seed=3)
    fortran = {k: np.asfortranarray(v) for k, v in p.items()}
    strided = {}
    for k, v in p.items():
        big = np.zeros(tuple(2 * s for s in v.shape), dtype=v.dtype)
        big[tuple(slice(None, None, 2) for _ in v.shape)] = v
        strided[k] = big[tuple(slice(None, None, 2) for _ in v.shape)]
    readonly = {k: v.copy() for k, v in p.items()}
    for v in readonly.values():
        v.flags.writeable = False
    for q in (fortran, strided, readonly):
        np.testing.assert_array_equal(sample(q, 50, prime=[1, 2], a0=a0, seed=3), base)
    prime_variants = (np.array([1, 2], dtype=np.uint8), (1, 2), np.array([9, 1, 9, 2])[1::2])
    for prime in prime_variants:
        np.testing.assert_array_equal(sample(p, 50, prime=prime, a0=a0, seed=3), base)
    np.testing.assert_array_equal(sample(p, 50, prime=[1, 2], a0=a0.tolist(), seed=3), base)
    np.testing.assert_array_equal(
        sample(p, np.int64(50), prime=[1, 2], a0=a0, seed=3, top_k=np.int32(8),
               temperature=np.float32(1.0)), base)


def test_inputs_are_not_modified():
    p = make_params(8, 6, np.float32, seed=17)
    a0 = np.ones(6, dtype=np.float32) * 0.3
    prime = np.array([1, 2, 3])
    copies = ({k: v.copy() for k, v in p.items()}, a0.copy(), prime.copy())
    for impl in IMPLS.values():
        impl(p, 30, prime=prime, a0=a0, seed=0)
    for k in p:
        np.testing.assert_array_equal(p[k], copies[0][k])
    np.testing.assert_array_equal(a0, copies[1])
    np.testing.assert_array_equal(prime, copies[2])


def test_threads_match_serial():
    """The kernel runs without the GIL; concurrent calls share nothing."""
    jobs = [(make_params(30, 40, dt, seed=s), s) for s, dt in enumerate(DTYPES * 3)]
    serial = [sample(p, 300, seed=s, top_k=5 if s % 2 else None) for p, s in jobs]
    results = [None] * len(jobs)

    def work(i):
        p, s = jobs[i]
        for _ in range(5):
            results[i] = sample(p, 300, seed=s, top_k=5 if s % 2 else None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, results):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- NaN and inf

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["Waa", "Wya", "by", "ba", "Wax", "by_one", "a0",
                                   "by_inf", "by_-inf", "Wya_inf"])
def test_nan_and_inf_params_give_ids_in_range(where, dtype):
    """Regression: NaN probabilities must neither crash nor index out of range."""
    V = 9
    p = make_params(V, 6, dtype, seed=18)
    a0 = None
    if where == "by_one":
        p["by"][4] = np.nan
    elif where == "by_inf":
        p["by"][[2, 6]] = np.inf
    elif where == "by_-inf":
        p["by"][[0, 3, 8]] = -np.inf
    elif where == "Wya_inf":
        p["Wya"][5, 0] = np.inf
    elif where == "a0":
        a0 = np.full(6, np.nan, dtype=dtype)
    else:
        p[where].flat[0] = np.nan
    for kw in ({}, {"top_k": 3}, {"top_k": 1}, {"temperature": 0.5, "prime": [1]},
               {"stop_id": 3}):
        for seed in range(5):
            ids = sample(p, 25, a0=a0, seed=seed, **kw)
            assert ids.dtype == np.intp
            assert ((0 <= ids) & (ids < V)).all()
            with np.errstate(all="raise"):  # the reference hides its NaN warnings
                ref = reference.sample(p, 25, a0=a0, seed=seed, **kw)
            np.testing.assert_array_equal(ids, ref)


def test_nan_fallback_rules():
    p = make_params(5, 3, np.float64, seed=19)
    p["Wya"][:] = 0
    # every logit NaN: the top-ranked class, id 0
    p["by"][:] = np.nan
    for impl in IMPLS.values():
        np.testing.assert_array_equal(impl(p, 4, seed=0), [0, 0, 0, 0])
    # one NaN logit: the last kept class with a positive probability
    p["by"][:] = [0.0, 1.0, np.nan, 0.5, -1.0]
    for impl in IMPLS.values():
        np.testing.assert_array_equal(impl(p, 3, seed=0), [4, 4, 4])
        # NaN ranks last: the top 2 are classes 1 and 3, drawn normally
        assert set(impl(p, 30, seed=0, top_k=2).tolist()) == {1, 3}
    # +inf logits: the first of them, whatever the draw
    p["by"][:] = [0.0, np.inf, 1.0, np.inf, 0.0]
    for impl in IMPLS.values():
        np.testing.assert_array_equal(impl(p, 3, seed=1), [1, 1, 1])
    # a temperature so small that z / T overflows: greedy
    p = make_params(5, 3, np.float64, seed=20)
    for impl in IMPLS.values():
        np.testing.assert_array_equal(impl(p, 10, temperature=1e-310, seed=2),
                                      sample(p, 10, top_k=1))


# ---------------------------------------------------------------- bad inputs

@pytest.fixture(params=sorted(IMPLS))
def impl(request):
    return IMPLS[request.param]


def good():
    return make_params(6, 4, np.float32, seed=21)


def test_bad_params(impl):
    with pytest.raises(TypeError, match="params must be a dict"):
        impl([1, 2], 3)
    p = good()
    del p["by"]
    with pytest.raises(ValueError, match="missing"):
        impl(p, 3)
    p = good()
    p["Wya"] = p["Wya"].astype(np.float64)
    with pytest.raises(TypeError, match="Wya"):
        impl(p, 3)
    q = fastrnn.init_params(6, 4, 5, seed=0)
    with pytest.raises(ValueError, match=r"output size O=5.*input size I=6"):
        impl(q, 3)


@pytest.mark.parametrize("length,exc,msg", [
    (2.0, TypeError, "length must be an integer"),
    (True, TypeError, "length must be an integer"),
    (np.bool_(True), TypeError, "length must be an integer"),
    ("3", TypeError, "length must be an integer"),
    (None, TypeError, "length must be an integer"),
    (-1, ValueError, "length must be >= 0, got -1"),
])
def test_bad_length(impl, length, exc, msg):
    with pytest.raises(exc, match=msg):
        impl(good(), length)


@pytest.mark.parametrize("prime,exc,msg", [
    ([0, 6], IndexError, r"prime has token id 6 at \[1\]; ids must be in \[0, 6\)"),
    ([-1], IndexError, r"prime has token id -1 at \[0\]"),
    (np.array([0, 2**64 - 1], dtype=np.uint64), IndexError,
     "prime has token id 18446744073709551615 at"),
    ([0.0, 1.0], TypeError, "prime must be integer token ids, got dtype float64"),
    ([True, False], TypeError, "prime must be integer token ids, got dtype bool"),
    ([[0, 1]], ValueError, r"prime must be a 1-d sequence of token ids, got shape \(1, 2\)"),
    (3, ValueError, r"prime must be a 1-d sequence.*shape \(\)"),
    (["a"], TypeError, "prime must be integer token ids"),
    ([[0], [1, 2]], TypeError, "prime could not be converted"),
])
def test_bad_prime(impl, prime, exc, msg):
    with pytest.raises(exc, match=msg):
        impl(good(), 3, prime=prime)
    if exc is IndexError:
        with pytest.raises(ValueError):  # FastRNNIndexError is both
            impl(good(), 3, prime=prime)
        with pytest.raises(FastRNNIndexError):
            impl(good(), 3, prime=prime)


@pytest.mark.parametrize("a0,exc,msg", [
    (np.zeros(4, dtype=np.float64), TypeError,
     "a0 has dtype float64 but the parameters are float32"),
    (np.zeros(5, dtype=np.float32), ValueError, r"a0 must have shape \(H,\)=\(4,\), got \(5,\)"),
    (np.zeros((1, 4), dtype=np.float32), ValueError,
     r"a0 must have shape \(H,\)=\(4,\), got \(1, 4\)"),
    (np.zeros(4, dtype=bool), TypeError, "a0 has dtype bool"),
    (["a"] * 4, TypeError, "a0 has dtype"),
])
def test_bad_a0(impl, a0, exc, msg):
    with pytest.raises(exc, match=msg):
        impl(good(), 3, a0=a0)


@pytest.mark.parametrize("temperature,exc,msg", [
    (0, ValueError, "temperature must be finite and > 0, got 0.0"),
    (-1.0, ValueError, "temperature must be finite and > 0, got -1.0"),
    (float("nan"), ValueError, "temperature must be finite and > 0, got nan"),
    (float("inf"), ValueError, "temperature must be finite and > 0, got inf"),
    ("1", TypeError, "temperature must be a real number"),
    (None, TypeError, "temperature must be a real number"),
    (True, TypeError, "temperature must be a real number"),
    (1j, TypeError, "temperature must be a real number"),
])
def test_bad_temperature(impl, temperature, exc, msg):
    with pytest.raises(exc, match=msg):
        impl(good(), 3, temperature=temperature)


@pytest.mark.parametrize("top_k,exc,msg", [
    (0, ValueError, r"top_k must be in \[1, 6\] \(output size O=6\), got 0"),
    (7, ValueError, r"top_k must be in \[1, 6\].*got 7"),
    (-2, ValueError, "top_k must be in"),
    (1.0, TypeError, "top_k must be an integer"),
    (True, TypeError, "top_k must be an integer"),
    ("2", TypeError, "top_k must be an integer"),
])
def test_bad_top_k(impl, top_k, exc, msg):
    with pytest.raises(exc, match=msg):
        impl(good(), 3, top_k=top_k)


@pytest.mark.parametrize("stop_id,exc,msg", [
    (6, IndexError, r"stop_id is 6; it must be a class id in \[0, 6\)"),
    (-1, IndexError, r"stop_id is -1; it must be a class id in \[0, 6\)"),
    (2.0, TypeError, "stop_id must be an integer"),
    (False, TypeError, "stop_id must be an integer"),
])
def test_bad_stop_id(impl, stop_id, exc, msg):
    with pytest.raises(exc, match=msg):
        impl(good(), 3, stop_id=stop_id)
    if exc is IndexError:
        with pytest.raises(ValueError):
            impl(good(), 3, stop_id=stop_id)


@pytest.mark.parametrize("seed", ["abc", -1, 1.5])
def test_bad_seed(impl, seed):
    with pytest.raises((TypeError, ValueError)):
        impl(good(), 3, seed=seed)


def test_bad_input_consumes_no_draws(impl):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        impl(good(), 3, top_k=0, seed=rng)
    assert rng.random() == np.random.default_rng(0).random()


@pytest.mark.parametrize("n", [1, 100000])
def test_a_generator_whose_random_returns_the_wrong_count_is_refused(n):
    # a Generator subclass may override random(); the sampler writes one id
    # per uniform, so anything but `length` of them is refused (more of them
    # overflowed the ids' array)
    class G(np.random.Generator):
        def random(self, size=None, dtype=np.float64, out=None):
            return np.zeros(n)

    with pytest.raises(TypeError, match=r"seed: the generator's random\(3\) returned"):
        sample(good(), 3, seed=G(np.random.PCG64(0)))


def test_a_generator_whose_random_returns_float32_is_refused():
    class G(np.random.Generator):
        def random(self, size=None, dtype=np.float64, out=None):
            return np.zeros(size, dtype=np.float32)

    with pytest.raises(TypeError, match="dtype float32"):
        sample(good(), 3, seed=G(np.random.PCG64(0)))


def test_a0_array_like_is_converted_once():
    # an array-like whose conversions differ: the checked conversion is the
    # one used (a second conversion, unchecked, was copied H elements long)
    p = make_params(V=5, H=64)

    class Flip:
        calls = 0

        def __array__(self, dtype=None, copy=None):
            Flip.calls += 1
            return np.full(64, 0.25) if Flip.calls == 1 else np.ones(1)

    got = sample(p, 20, a0=Flip(), seed=3)
    assert Flip.calls == 1
    np.testing.assert_array_equal(got, sample(p, 20, a0=np.full(64, 0.25), seed=3))


def test_huge_length_names_length():
    with pytest.raises(ValueError, match=r"length=4611686018427387904"):
        sample(good(), 2**62)


def test_kernel_entry_refuses_inconsistent_arguments():
    # fastrnn.sampling checks the user's arguments; the kernel's entry still
    # refuses ones that disagree (its own callers' mistakes) before any memory
    # is touched
    from fastrnn import _sample
    p = make_params(V=5, H=8, dtype=np.float32)
    WaxT = np.ascontiguousarray(p["Wax"].T)
    args = [WaxT, p["Waa"], p["ba"], p["Wya"], p["by"], np.zeros(0, np.intp),
            np.zeros(8, np.float32), 1.0, 5, -1, np.full(3, 0.5), np.empty(3, np.intp)]
    assert _sample.sample(*args) == 3
    bad = {10: np.full(4, 0.5),              # more uniforms than ids
           6: np.zeros(7, np.float32),        # a0 of the wrong length
           8: 6, 9: 5, 7: 0.0}                # top_k > O, stop_id = O, temperature 0
    for i, v in bad.items():
        with pytest.raises(ValueError, match="_sample.sample: inconsistent arguments"):
            _sample.sample(*[v if j == i else a for j, a in enumerate(args)])
    with pytest.raises(IndexError, match=r"prime\[1\] = 5 is not a row of WaxT"):
        _sample.sample(*[np.array([0, 5], np.intp) if j == 5 else a
                         for j, a in enumerate(args)])


def test_keyword_only():
    with pytest.raises(TypeError):
        sample(good(), 3, [1, 2])
    with pytest.raises(TypeError):
        reference.sample(good(), 3, [1, 2])


def test_docstring_examples():
    failures, tried = doctest.testmod(sampling, raise_on_error=False, verbose=False)
    assert tried > 0 and failures == 0


# ---------------------------------------------------------------- the kernel's parts

ULP_TINY = np.nextafter(0.0, 1.0)  # the spacing of the subnormals


def test_draw_exp_within_one_ulp():
    """The draw's exp (Estrin's scheme, as dispatched) against the correctly
    rounded exp, over the range it serves, x in [-746, 0]: at most 1 ulp off,
    subnormal results at most 1 subnormal step off."""
    from fastrnn._sample import _exp_draw
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-746, 0, 400001), -rng.exponential(3.0, 200000),
                        -rng.uniform(0, 746, 200000), -np.geomspace(1e-300, 1, 10001),
                        [0.0, -0.0, -5e-324, -0.34657359, -0.34657360, -708.39, -708.40,
                         -709.0, -744.44, -745.13, -745.14, -746.0]])
    got = _exp_draw(x)
    want = np.exp(x.astype(np.longdouble)).astype(np.float64)  # correctly rounded
    assert (got >= 0).all()
    normal = want >= np.finfo(np.float64).tiny
    ulps = np.abs(got[normal].view(np.int64) - want[normal].view(np.int64))
    assert ulps.max() <= 1
    assert np.abs(got[~normal] - want[~normal]).max() <= ULP_TINY
    # libm's own exp: the same bound (a check on the check)
    assert np.abs(np.exp(x[normal]).view(np.int64) - want[normal].view(np.int64)).max() <= 1


def test_draw_exp_underflow_nan_and_zero():
    from fastrnn._sample import _exp_draw
    got = _exp_draw(np.array([-746.0, -746.5, -800.0, -1e300, -np.inf, np.nan, 0.0, -0.0, -1.0]))
    np.testing.assert_array_equal(got[:5], 0.0)
    assert np.isnan(got[5])
    np.testing.assert_array_equal(got[6:8], 1.0)
    assert got[8] == np.exp(-1.0)
    # every length: the vector tail is handled like the rest
    for n in range(0, 11):
        x = -np.arange(n, dtype=np.float64) * 0.37
        if n == 0:
            np.testing.assert_array_equal(_exp_draw(x), np.exp(x))
        assert np.abs(_exp_draw(x) / np.exp(x) - 1).max(initial=0) <= 2.3e-16


def numpy_draw(z, by, temperature, top_k, u):
    """The drawing rule, line for line as fastrnn.reference.sample applies it."""
    with np.errstate(all="ignore"):
        s = (z + by).astype(np.float64)
        order = np.argsort(-s, kind="stable")
        best = order[0]
        kept = np.sort(order[:top_k])
        e = np.exp((s[kept] - s[best]) / temperature)
        cdf = np.cumsum(e)
        hit = np.flatnonzero(cdf > u * cdf[-1])
        if hit.size:
            return int(kept[hit[0]])
        positive = np.flatnonzero(e > 0)
        return int(kept[positive[-1]]) if positive.size else int(best)


@pytest.mark.parametrize("dtype", DTYPES)
def test_draw_matches_numpy(dtype):
    """The kernel's fused draw (float64 logits and max in one pass, the
    exps, the cumsum, the search as a count) against the rule in NumPy, on
    random logits with ties, NaN and infinities, every top_k, temperatures
    and uniforms including 0 and the largest below 1."""
    from fastrnn._sample import _draw
    rng = np.random.default_rng(1)
    checked = 0
    for O in list(range(1, 10)) + [16, 17, 64, 65, 66, 67, 100]:
        for trial in range(30):
            kind = trial % 6
            if kind == 0:
                z = rng.normal(0, 3, O)
            elif kind == 1:      # ties
                z = rng.integers(-2, 3, O).astype(np.float64)
            elif kind == 2:      # NaN somewhere
                z = rng.normal(0, 3, O)
                z[rng.integers(0, O, 1 + O // 4)] = np.nan
            elif kind == 3:      # infinities
                z = rng.normal(0, 3, O)
                z[rng.integers(0, O, 1 + O // 5)] = rng.choice([np.inf, -np.inf], 1 + O // 5)
            elif kind == 4:      # a wide range: exps that underflow, subnormal
                z = rng.uniform(-800, 0, O)
            else:                # all NaN, or one class far ahead
                z = np.full(O, np.nan) if trial % 12 == 5 else rng.normal(0, 1, O)
                z[0] = 0 if trial % 12 == 5 else 50.0
            z = z.astype(dtype)
            by = rng.normal(0, 1, O).astype(dtype)
            for u in (0.0, rng.random(), rng.random(), 1 - 2.0 ** -53):
                for top_k in sorted({1, max(1, O // 3), O}):
                    for T in (1.0, 0.3, 2.5):
                        got = _draw(z, by, T, top_k, u)
                        assert got == numpy_draw(z, by, T, top_k, u), (O, kind, u, top_k, T, z)
                        checked += 1
    assert checked > 5000


def test_draw_u_on_a_cdf_step_goes_above_it():
    """cumsum(e)[k] > u * total, strictly: a u exactly on a step picks the
    class after it (the count of cumsum <= u * total)."""
    from fastrnn._sample import _draw
    z = np.zeros(4)
    by = np.zeros(4)
    for u, k in ((0.0, 0), (0.25, 1), (0.5, 2), (0.75, 3), (0.2499999, 0)):
        assert _draw(z, by, 1.0, 4, u) == k == numpy_draw(z, by, 1.0, 4, u)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sampler_product(dtype):
    """The sampler's packed W @ a: full panels, a zero-padded last panel, or
    1-2 trailing columns summed as scalars, for every n mod 16 and short and
    long rows."""
    from fastrnn._sample import _matvec
    rng = np.random.default_rng(2)
    eps = np.finfo(dtype).eps
    for n in list(range(1, 40)) + [64, 65, 66, 128, 130, 193]:
        for k in (1, 2, 5, 16, 17, 128):
            W = rng.normal(0, 1, (n, k)).astype(dtype)
            a = rng.normal(0, 1, k).astype(dtype)
            got = _matvec(W, a)
            want = W.astype(np.float64) @ a.astype(np.float64)
            bound = (k + 1) * eps * (np.abs(W).astype(np.float64) @ np.abs(a).astype(np.float64))
            assert got.shape == (n,)
            assert (np.abs(got - want) <= bound).all(), (n, k)
    # each sum in p order in one accumulator: a row's value does not depend
    # on the other rows (its panel, its group, scalar or vector)
    W = rng.normal(0, 1, (193, 128)).astype(dtype)
    a = rng.normal(0, 1, 128).astype(dtype)
    full = _matvec(W, a)
    for lo, hi in ((0, 1), (190, 193), (64, 65), (0, 128), (128, 193), (5, 37)):
        np.testing.assert_array_equal(_matvec(np.ascontiguousarray(W[lo:hi]), a), full[lo:hi])
    W[3, 7] = np.nan
    assert np.isnan(_matvec(W, a)[3]) and np.isfinite(np.delete(_matvec(W, a), 3)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("V,H", [(65, 128), (17, 16), (33, 17), (100, 37), (2, 200), (1, 3)])
def test_shapes_of_the_packed_product(V, H, dtype):
    """The kernel against the reference where Waa and Wya have full panels,
    scalar trailing columns (n % 16 or n % 8 in 1..2) or padded ones, and H
    longer and shorter than a product piece (16 terms)."""
    p = make_params(V, H, dtype, seed=V + 7 * H)
    for seed in range(3):
        for kw in ({}, {"prime": [0, V - 1]}, {"top_k": max(1, V // 2)}):
            assert_twins_agree(sample(p, 200, seed=seed, **kw),
                               reference.sample(p, 200, seed=seed, **kw), p, seed, **kw)
