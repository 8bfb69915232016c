"""The validation gate: every bad input is a clear error naming the argument.

Each case runs through fastrnn's kernels and the reference alike (they share
the gate), for forward and loss_and_grads.
"""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference

from problems import make_problem

CALLS = {
    "forward": lambda p, X, Y, a0, L: fastrnn.forward(p, X, a0, L),
    "loss_and_grads": lambda p, X, Y, a0, L: fastrnn.loss_and_grads(p, X, Y, a0, L),
    "reference.forward": lambda p, X, Y, a0, L: reference.forward(p, X, a0, L),
    "reference.loss_and_grads": lambda p, X, Y, a0, L: reference.loss_and_grads(p, X, Y, a0, L),
}


@pytest.fixture(params=sorted(CALLS))
def call(request):
    return CALLS[request.param]


def base(dtype=np.float32):
    return make_problem("steps", I=6, H=4, O=5, B=2, T=3, dtype=dtype, seed=1)


@pytest.mark.parametrize("bad,where", [(-1, "[0, 1]"), (6, "[1, 2]"), (2**40, "[0, 0]")])
def test_token_id_out_of_range(call, bad, where):
    p, X, Y, a0, L = base()
    r, c = eval(where)
    X[r, c] = bad
    with pytest.raises(IndexError, match=rf"X has token id {bad} at \[{r}, {c}\].*\[0, 6\)"):
        call(p, X, Y, a0, L)
    with pytest.raises(ValueError):  # FastRNNIndexError is both
        call(p, X, Y, a0, L)


def test_unsigned_huge_token_id(call):
    p, X, Y, a0, L = base()
    Xu = X.astype(np.uint64)
    Xu[1, 1] = np.uint64(2**64 - 1)
    with pytest.raises(IndexError, match="X has token id 18446744073709551615 at"):
        call(p, Xu, Y, a0, L)


@pytest.mark.parametrize("X,exc,msg", [
    (np.zeros((2, 3), dtype=np.float32), TypeError, "token ids must be an integer"),
    (np.zeros((2, 3), dtype=bool), TypeError, "bool"),
    (np.zeros((2, 3), dtype=np.complex64), TypeError, "complex64"),
    (np.array([[0, 1], [1, "a"]], dtype=object), TypeError, "object"),
    (np.zeros(3, dtype=np.int64), ValueError, r"X\[None\]"),
    (np.zeros((1, 2, 3, 4), dtype=np.int64), ValueError, r"shape \(B, T\)"),
    (np.array(3), ValueError, r"shape \(B, T\)"),
    (np.zeros((0, 3), dtype=np.int64), ValueError, "B.*T.*>= 1"),
    (np.zeros((2, 0), dtype=np.int64), ValueError, "B.*T.*>= 1"),
    (np.zeros((2, 3, 5), dtype=np.float32), ValueError, r"\(B, T, I=6\)"),
    (np.zeros((2, 3, 6), dtype=np.float64), TypeError, "float64 but the parameters are float32"),
    (np.zeros((2, 3, 6), dtype=np.float16), TypeError, "float16"),
    ([[0, 1], [2]], TypeError, "X"),
])
def test_bad_X(call, X, exc, msg):
    p, _, Y, a0, L = base()
    with pytest.raises(exc, match=msg):
        call(p, X, Y, a0, L)


@pytest.mark.parametrize("lengths,exc,msg", [
    ([0, 3], IndexError, r"lengths\[0\] is 0"),
    ([3, 4], IndexError, r"lengths\[1\] is 4.*\[1, T=3\]"),
    ([-1, 2], IndexError, r"lengths\[0\] is -1"),
    ([3], ValueError, r"shape \(2,\)"),
    ([[3, 3]], ValueError, r"shape \(2,\)"),
    ([2.0, 3.0], TypeError, "lengths must be integers"),
])
def test_bad_lengths(call, lengths, exc, msg):
    p, X, Y, a0, _ = base()
    with pytest.raises(exc, match=msg):
        call(p, X, Y, a0, lengths)


@pytest.mark.parametrize("a0,exc,msg", [
    (np.zeros((2, 5), dtype=np.float32), ValueError, r"a0 must have shape"),
    (np.zeros((3, 4), dtype=np.float32), ValueError, r"a0 must have shape"),
    (np.zeros((2, 4), dtype=np.float64), TypeError, "a0 has dtype float64"),
    (np.zeros((2, 4), dtype=np.int64), TypeError, "a0 has dtype int64"),
])
def test_bad_a0(call, a0, exc, msg):
    p, X, Y, _, L = base()
    with pytest.raises(exc, match=msg):
        call(p, X, Y, a0, L)


def test_a0_list_is_converted(call):
    p, X, Y, _, L = base()
    call(p, X, Y, [[0.1] * 4, [0.2] * 4], L)


@pytest.mark.parametrize("Y,exc,msg", [
    ([[0, 1, 5], [0, 0, 0]], IndexError, r"Y has target 5 at \[0, 2\].*\[0, 5\)"),
    ([[0, 1, 2], [0, -2, 0]], IndexError, r"Y has target -2 at \[1, 1\]"),
    ([5, 0], IndexError, r"Y has target 5 at \[0\]"),
    ([[0, 1], [0, 0]], ValueError, r"Y must have shape"),
    ([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]], TypeError, "Y must be integer"),
    ([0, 1, 2], ValueError, r"Y must have shape"),
])
def test_bad_targets(Y, exc, msg):
    p, X, _, a0, L = base()
    for f in (fastrnn.loss_and_grads, reference.loss_and_grads):
        with pytest.raises(exc, match=msg):
            f(p, X, Y, a0, L)


def test_targets_required():
    p, X, _, _, _ = base()
    with pytest.raises(TypeError):
        fastrnn.loss_and_grads(p, X, None)


@pytest.mark.parametrize("change,exc,msg", [
    (lambda p: p.pop("ba"), ValueError, r"missing \['ba'\]"),
    (lambda p: p.update(extra=np.zeros(3)), ValueError, r"unexpected keys \['extra'\]"),
    (lambda p: p.update(Waa=np.zeros((4, 5), np.float32)), ValueError, r"params\['Waa'\] has shape \(4, 5\)"),
    (lambda p: p.update(by=np.zeros(4, np.float32)), ValueError, r"params\['by'\] has shape \(4,\)"),
    (lambda p: p.update(ba=np.zeros((4, 1), np.float32)), ValueError, r"params\['ba'\] must have 1"),
    (lambda p: p.update(Waa=p["Waa"].astype(np.float64)), TypeError, r"params\['Waa'\] has dtype float64.*float32"),
    (lambda p: p.update(Wya=p["Wya"].astype(np.float16)), TypeError, r"params\['Wya'\] has dtype float16"),
    (lambda p: p.update(Wax=p["Wax"].astype(complex)), TypeError, r"params\['Wax'\] has dtype complex128"),
    (lambda p: p.update(Wax=p["Wax"].astype(int)), TypeError, r"params\['Wax'\] has dtype int64"),
])
def test_bad_params(call, change, exc, msg):
    p, X, Y, a0, L = base()
    change(p)
    with pytest.raises(exc, match=msg):
        call(p, X, Y, a0, L)


def test_params_not_a_dict(call):
    _, X, Y, a0, L = base()
    with pytest.raises(TypeError, match="params must be a dict"):
        call([1, 2, 3], X, Y, a0, L)


def test_blas_int_limit_before_allocation(call):
    """B*H past 2**31 - 1 is refused before any (B, H) buffer is allocated."""
    # H = 65536: Waa alone would be 16 GiB, so broadcast views stand in (never written)
    H = 2**16
    p = {"Wax": np.broadcast_to(np.float32(0.1), (H, 3)),
         "Waa": np.broadcast_to(np.float32(0.1), (H, H)),
         "ba": np.zeros(H, np.float32), "Wya": np.broadcast_to(np.float32(0.1), (3, H)),
         "by": np.zeros(3, np.float32)}
    X = np.broadcast_to(np.int64(0), (2**15 + 1, 1))
    with pytest.raises(ValueError, match="B\\*H = .* exceeds BLAS's 32-bit limit"):
        call(p, X, np.zeros(X.shape, dtype=np.int64), None, None)


@pytest.mark.parametrize("args,exc,msg", [
    ((0, 5), ValueError, "input_size must be >= 1"),
    ((5, 0), ValueError, "hidden_size must be >= 1"),
    ((5, 5, -1), ValueError, "output_size must be >= 1"),
    ((5.0, 5), TypeError, "input_size must be an integer"),
    ((5, "5"), TypeError, "hidden_size must be an integer"),
    ((2**31, 5), ValueError, "input_size = 2147483648 exceeds"),
])
def test_bad_init_params(args, exc, msg):
    with pytest.raises(exc, match=msg):
        fastrnn.init_params(*args)


@pytest.mark.parametrize("dtype", [np.float16, np.int32, "complex128"])
def test_bad_init_dtype(dtype):
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        fastrnn.init_params(4, 3, dtype=dtype)


def test_init_params_contract():
    p = fastrnn.init_params(7, 5, 3, dtype=np.float64, seed=42)
    assert {k: v.shape for k, v in p.items()} == {
        "Wax": (5, 7), "Waa": (5, 5), "ba": (5,), "Wya": (3, 5), "by": (3,)}
    assert all(v.dtype == np.float64 for v in p.values())
    q = fastrnn.init_params(7, 5, 3, dtype=np.float64, seed=42)
    for k in p:
        np.testing.assert_array_equal(p[k], q[k])
    assert fastrnn.init_params(7, 5)["Wya"].shape == (7, 5)  # O defaults to I
    assert np.abs(p["Waa"]).max() <= 1 / np.sqrt(5) and p["Waa"].std() > 0


def unaligned(a):
    """A copy of `a` whose data starts one byte past an aligned address."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    out = np.frombuffer(buf.data, a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equivalent_and_unaligned_inputs_give_the_usual_answer(dtype):
    """longlong ids and targets (an integer type equal to intp but not NumPy's
    canonical one), unaligned parameters and a0: accepted, and the answers of
    the usual arrays (they once reached the kernels' own type check)."""
    p, X, Y, a0, lengths = make_problem("lengths", I=9, H=6, O=7, B=4, T=5, dtype=dtype,
                                        seed=12)
    a0 = np.random.default_rng(3).normal(size=(4, 6)).astype(dtype)
    want = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    want_f = fastrnn.forward(p, X, a0, lengths)
    odd = {k: unaligned(v) for k, v in p.items()}
    for args in [(p, X.astype(np.longlong), Y.astype(np.longlong), a0,
                  lengths.astype(np.longlong)),
                 (odd, X, Y, unaligned(a0), lengths)]:
        got = fastrnn.loss_and_grads(*args)
        assert got[0] == want[0]
        for k in want[1]:
            np.testing.assert_array_equal(got[1][k], want[1][k])
        got_f = fastrnn.forward(args[0], args[1], args[3], args[4])
        for g, w in zip(got_f, want_f):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("padded", [False, True])
def test_index_arrays_are_private_copies(padded):
    """The kernels index memory with ids, targets and lengths after releasing
    the GIL: the gate hands them private copies, never the caller's arrays
    (which another thread could change meanwhile), in the compiled path and
    the Python one alike."""
    from fastrnn import _validate
    p, X, Y, _, _ = make_problem("steps", I=9, H=6, O=7, B=4, T=5, seed=13)
    X = np.ascontiguousarray(X, dtype=np.intp)
    Y = np.ascontiguousarray(Y, dtype=np.intp)
    lengths = np.array([5, 3, 5, 2] if padded else [5, 5, 5, 5], dtype=np.intp)
    for check in (_validate.check_batch, _validate._check_batch_py):
        b = check(p, X, Y, None, lengths, need_Y=True)
        for mine, theirs in ((b.ids, X), (b.Y, Y), (b.lengths, lengths)):
            assert not np.shares_memory(mine, theirs)
            assert mine.dtype.num == np.dtype(np.intp).num and mine.flags.c_contiguous


@pytest.mark.parametrize("lengths", [None, [3, 2]])
def test_a0_array_like_is_converted_once(call, lengths):
    # an array-like whose conversions differ: the gate uses the conversion it
    # checked (a second one, unchecked, was broadcast into another a0)
    p, X, Y, a0, _ = make_problem("all", I=6, H=4, O=6, B=2, T=3, dtype=np.float64, seed=2)

    class Flip:
        calls = 0

        def __array__(self, dtype=None, copy=None):
            Flip.calls += 1
            return a0.copy() if Flip.calls == 1 else np.ones(1)

    got = call(p, X, Y, Flip(), lengths)
    assert Flip.calls == 1
    want = call(p, X, Y, a0, lengths)
    for g, w in zip(got, want):
        if isinstance(w, dict):
            for k in w:
                np.testing.assert_array_equal(g[k], w[k])
        else:
            np.testing.assert_array_equal(g, w)


def test_memory_error_while_converting_an_argument_is_not_a_type_error():
    """Conversion failures of a bad value are TypeErrors naming it, but a
    MemoryError (an array too big to build) stays a MemoryError."""
    from fastrnn.interop import from_torch_state_dict

    class Huge:
        def __array__(self, dtype=None, copy=None):
            raise MemoryError("Unable to allocate 1 PiB")

    class Bad:
        def __array__(self, dtype=None, copy=None):
            raise ValueError("not an array")

    p = fastrnn.init_params(5, 4, seed=0)
    with pytest.raises(MemoryError, match="1 PiB"):
        fastrnn.forward(p, Huge())
    with pytest.raises(TypeError, match="X could not be converted"):
        fastrnn.forward(p, Bad())
    with pytest.raises(MemoryError, match="1 PiB"):
        from_torch_state_dict(dict.fromkeys(
            ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight", "bias"],
            Huge()))
