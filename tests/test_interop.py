"""fastrnn.interop: PyTorch (nn.RNN + nn.Linear) and Keras (SimpleRNN + Dense) weights.

Round trips are exact; the converted weights compute the same function in
PyTorch (when it is installed) and in the Keras SimpleRNN/Dense equations
written out in NumPy (Keras is never imported).
"""
import doctest
import re
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn import _validate, interop
from fastrnn.interop import (KERAS_KEYS, TORCH_KEYS, from_keras_weights,
                             from_torch_state_dict, to_keras_weights, to_torch_state_dict)

DTYPES = [np.float32, np.float64]
ATOL = {np.float32: 1e-5, np.float64: 1e-12}
SHAPES = [(7, 5, 7), (11, 9, 4), (1, 1, 1), (3, 1, 2), (1, 4, 1)]  # (I, H, O)


def make_params(I=7, H=5, O=None, dtype=np.float64, seed=0):
    """Random parameters with non-zero biases (init_params makes them zero)."""
    rng = np.random.default_rng(seed)
    p = fastrnn.init_params(I, H, O, dtype=dtype, seed=seed)
    p["ba"] = rng.normal(0, 0.5, p["ba"].shape).astype(dtype)
    p["by"] = rng.normal(0, 0.5, p["by"].shape).astype(dtype)
    p["Waa"] = rng.normal(0, 1.0 / np.sqrt(H), p["Waa"].shape).astype(dtype)
    return p


def assert_same_params(a, b):
    assert set(a) == set(b) == set(_validate.PARAM_KEYS)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------
# round trips and layout
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("I,H,O", SHAPES)
def test_torch_round_trip_is_exact(I, H, O, dtype):
    p = make_params(I, H, O, dtype=dtype, seed=I + H + O)
    sd = to_torch_state_dict(p)
    assert tuple(sd) == TORCH_KEYS
    expected = {"weight_ih_l0": (H, I), "weight_hh_l0": (H, H), "bias_ih_l0": (H,),
                "bias_hh_l0": (H,), "weight": (O, H), "bias": (O,)}
    for k, v in sd.items():
        assert isinstance(v, np.ndarray) and v.dtype == dtype, k
        assert v.shape == expected[k], k
        assert v.flags.c_contiguous and v.flags.writeable, k
    np.testing.assert_array_equal(sd["weight_ih_l0"], p["Wax"])
    np.testing.assert_array_equal(sd["bias_ih_l0"], p["ba"])
    np.testing.assert_array_equal(sd["bias_hh_l0"], 0)
    back = from_torch_state_dict(sd)
    assert_same_params(back, p)
    _validate.check_params(back)
    # stored as init_params stores it: Wax columns contiguous for the gather
    assert back["Wax"].flags.f_contiguous


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("I,H,O", SHAPES)
def test_keras_round_trip_is_exact(I, H, O, dtype):
    p = make_params(I, H, O, dtype=dtype, seed=I * H * O)
    w = to_keras_weights(p)
    assert tuple(w) == KERAS_KEYS
    expected = {"kernel": (I, H), "recurrent_kernel": (H, H), "bias": (H,),
                "dense_kernel": (H, O), "dense_bias": (O,)}
    for k, v in w.items():
        assert isinstance(v, np.ndarray) and v.dtype == dtype, k
        assert v.shape == expected[k], k
        assert v.flags.c_contiguous and v.flags.writeable, k
    np.testing.assert_array_equal(w["kernel"], p["Wax"].T)
    np.testing.assert_array_equal(w["recurrent_kernel"], p["Waa"].T)
    np.testing.assert_array_equal(w["dense_kernel"], p["Wya"].T)
    back = from_keras_weights(w)
    assert_same_params(back, p)
    _validate.check_params(back)
    lists = from_keras_weights(rnn=[w["kernel"], w["recurrent_kernel"], w["bias"]],
                               dense=(w["dense_kernel"], w["dense_bias"]))
    assert_same_params(lists, p)


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_biases_fold_into_ba(dtype):
    rng = np.random.default_rng(1)
    H, I, O = 4, 3, 5
    sd = {"weight_ih_l0": rng.normal(size=(H, I)), "weight_hh_l0": rng.normal(size=(H, H)),
          "bias_ih_l0": rng.normal(size=H), "bias_hh_l0": rng.normal(size=H),
          "weight": rng.normal(size=(O, H)), "bias": rng.normal(size=O)}
    sd = {k: v.astype(dtype) for k, v in sd.items()}
    p = from_torch_state_dict(sd)
    assert p["ba"].dtype == dtype
    np.testing.assert_array_equal(p["ba"], sd["bias_ih_l0"] + sd["bias_hh_l0"])
    # and back: one bias carries the sum, the other is zero
    again = to_torch_state_dict(p)
    np.testing.assert_array_equal(again["bias_ih_l0"] + again["bias_hh_l0"], p["ba"])


def test_outputs_never_share_memory_with_inputs():
    for shape in SHAPES:
        p = make_params(*shape)
        for out in (to_torch_state_dict(p), to_keras_weights(p)):
            for v in out.values():
                for q in p.values():
                    assert not np.shares_memory(v, q)
        sd = to_torch_state_dict(p)
        w = to_keras_weights(p)
        for back, src in ((from_torch_state_dict(sd), sd), (from_keras_weights(w), w)):
            for v in back.values():
                for q in src.values():
                    assert not np.shares_memory(v, q)


def test_any_input_layout_and_array_likes():
    p = make_params(6, 4, 3)
    strided = {k: (np.asfortranarray(v) if v.ndim == 2 else v[::-1][::-1]) for k, v in p.items()}
    assert_same_params(from_torch_state_dict(to_torch_state_dict(strided)), p)
    sd = {k: v.tolist() for k, v in to_torch_state_dict(p).items()}  # nested lists: float64
    assert_same_params(from_torch_state_dict(sd), p)
    w = {k: v.T.copy().T for k, v in to_keras_weights(p).items()}  # Fortran-ordered
    assert_same_params(from_keras_weights(w), p)


class FakeTensor:
    """Quacks like a torch tensor: detach() and cpu() give something NumPy reads."""

    def __init__(self, array):
        self.array = array
        self.calls = []

    def detach(self):
        self.calls.append("detach")
        return self

    def cpu(self):
        self.calls.append("cpu")
        return self

    def __array__(self, dtype=None, copy=None):
        return self.array


def test_tensor_like_values_are_detached_and_moved_to_cpu():
    p = make_params(5, 3, 2, dtype=np.float32)
    fakes = {k: FakeTensor(v) for k, v in to_torch_state_dict(p).items()}
    assert_same_params(from_torch_state_dict(fakes), p)
    assert all(f.calls == ["detach", "cpu"] for f in fakes.values())


def test_importing_interop_imports_no_framework():
    code = ("import sys, fastrnn.interop; "
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docstring_examples():
    result = doctest.testmod(interop, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------
# the same function: Keras's SimpleRNN + Dense equations, written in NumPy
# ---------------------------------------------------------------------------
def keras_simple_rnn_dense(w, X, h0=None):
    """SimpleRNN(return_sequences=True) + Dense(softmax) on (B, T, I) inputs."""
    B, T, _ = X.shape
    H = w["recurrent_kernel"].shape[0]
    h = np.zeros((B, H), dtype=X.dtype) if h0 is None else h0
    hs = []
    for t in range(T):
        h = np.tanh(X[:, t] @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"])
        hs.append(h)
    Hs = np.stack(hs, axis=1)
    return softmax(Hs @ w["dense_kernel"] + w["dense_bias"]), Hs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("I,H,O", [(7, 5, 7), (10, 16, 3), (1, 1, 1)])
def test_keras_equations_match_fastrnn(I, H, O, dtype):
    rng = np.random.default_rng(5)
    B, T = 3, 6
    p = make_params(I, H, O, dtype=dtype, seed=7)
    ids = rng.integers(0, I, size=(B, T))
    a0 = rng.normal(0, 0.5, size=(B, H)).astype(dtype)
    w = to_keras_weights(p)
    onehot = np.eye(I, dtype=dtype)[ids]
    kprobs, kA = keras_simple_rnn_dense(w, onehot, a0)
    probs, A = fastrnn.forward(p, ids, a0=a0)
    np.testing.assert_allclose(probs, kprobs, rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(A, kA, rtol=0, atol=ATOL[dtype])
    # dense inputs go in unchanged
    Xd = rng.normal(size=(B, T, I)).astype(dtype)
    np.testing.assert_allclose(fastrnn.forward(p, Xd)[0], keras_simple_rnn_dense(w, Xd)[0],
                               rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_keras_layer_weights_match_fastrnn(dtype):
    """Random 'layer weights' (as get_weights() would return them) -> fastrnn."""
    rng = np.random.default_rng(8)
    I, H, O, B, T = 6, 8, 4, 2, 5
    kernel = rng.normal(0, 0.5, (I, H)).astype(dtype)
    recurrent = rng.normal(0, 0.3, (H, H)).astype(dtype)
    bias = rng.normal(0, 0.2, H).astype(dtype)
    dense_kernel = rng.normal(0, 0.5, (H, O)).astype(dtype)
    dense_bias = rng.normal(0, 0.2, O).astype(dtype)
    p = from_keras_weights(rnn=[kernel, recurrent, bias], dense=[dense_kernel, dense_bias])
    _validate.check_params(p)
    assert p["Wax"].dtype == dtype
    ids = rng.integers(0, I, size=(B, T))
    w = dict(zip(KERAS_KEYS, (kernel, recurrent, bias, dense_kernel, dense_bias)))
    kprobs, kA = keras_simple_rnn_dense(w, np.eye(I, dtype=dtype)[ids])
    probs, A = fastrnn.forward(p, ids)
    np.testing.assert_allclose(probs, kprobs, rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(A, kA, rtol=0, atol=ATOL[dtype])


# ---------------------------------------------------------------------------
# the same function in PyTorch (optional oracle)
# ---------------------------------------------------------------------------
TORCH_DTYPE_NAMES = {np.float32: "float32", np.float64: "float64"}


def torch_modules(torch, I, H, O, dtype):
    tdt = getattr(torch, TORCH_DTYPE_NAMES[dtype])
    rnn = torch.nn.RNN(I, H, batch_first=True, dtype=tdt)
    linear = torch.nn.Linear(H, O, dtype=tdt)
    return rnn, linear


def torch_forward(torch, rnn, linear, X, a0=None):
    """(probs, A) as NumPy arrays from (B, T, I) float inputs."""
    x = torch.from_numpy(np.ascontiguousarray(X))
    h0 = None if a0 is None else torch.from_numpy(np.ascontiguousarray(a0))[None]
    with torch.no_grad():
        out, _ = rnn(x, h0)
        probs = torch.softmax(linear(out), dim=-1)
    return probs.numpy(), out.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("I,H,O", [(7, 5, 7), (12, 16, 3), (1, 1, 1)])
def test_fastrnn_to_torch_computes_the_same(I, H, O, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    B, T = 4, 9
    p = make_params(I, H, O, dtype=dtype, seed=3)
    rnn, linear = torch_modules(torch, I, H, O, dtype)
    sd = {k: torch.from_numpy(v) for k, v in to_torch_state_dict(p).items()}
    rnn.load_state_dict({k: sd[k] for k in TORCH_KEYS[:4]}, strict=True)
    linear.load_state_dict({"weight": sd["weight"], "bias": sd["bias"]}, strict=True)
    ids = rng.integers(0, I, size=(B, T))
    onehot = np.eye(I, dtype=dtype)[ids]  # (B, T, I)
    tprobs, tA = torch_forward(torch, rnn, linear, onehot)
    probs, A = fastrnn.forward(p, ids)
    np.testing.assert_allclose(probs, tprobs, rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(A, tA, rtol=0, atol=ATOL[dtype])
    # with an initial state a0 (torch's h0, shape (1, B, H))
    a0 = rng.uniform(-1, 1, size=(B, H)).astype(dtype)
    tprobs, tA = torch_forward(torch, rnn, linear, onehot, a0)
    probs, A = fastrnn.forward(p, ids, a0=a0)
    np.testing.assert_allclose(probs, tprobs, rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(A, tA, rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("I,H,O", [(7, 5, 7), (12, 16, 3), (1, 1, 1)])
def test_torch_to_fastrnn_computes_the_same(I, H, O, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(I + H + O)
    rng = np.random.default_rng(4)
    B, T = 3, 7
    rnn, linear = torch_modules(torch, I, H, O, dtype)  # random init, both biases non-zero
    p = from_torch_state_dict({**rnn.state_dict(), **linear.state_dict()})
    _validate.check_params(p)
    assert all(v.dtype == dtype for v in p.values())
    ids = rng.integers(0, I, size=(B, T))
    tprobs, tA = torch_forward(torch, rnn, linear, np.eye(I, dtype=dtype)[ids])
    probs, A = fastrnn.forward(p, ids)
    np.testing.assert_allclose(probs, tprobs, rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(A, tA, rtol=0, atol=ATOL[dtype])
    # dense inputs and a shared a0 (H,)
    Xd = rng.normal(size=(B, T, I)).astype(dtype)
    a0 = rng.uniform(-1, 1, size=H).astype(dtype)
    tprobs, tA = torch_forward(torch, rnn, linear, Xd, np.broadcast_to(a0, (B, H)))
    probs, A = fastrnn.forward(p, Xd, a0=a0)
    np.testing.assert_allclose(probs, tprobs, rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(A, tA, rtol=0, atol=ATOL[dtype])


def test_torch_parameters_with_requires_grad_are_accepted_and_copied():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rnn, linear = torch_modules(torch, 5, 4, 3, np.float32)
    named = {**dict(rnn.named_parameters()), **dict(linear.named_parameters())}
    assert all(t.requires_grad for t in named.values())
    p = from_torch_state_dict(named)
    np.testing.assert_array_equal(p["Wax"], named["weight_ih_l0"].detach().numpy())
    # the fastrnn arrays are copies: training them in place leaves torch's weights alone
    before = named["weight_ih_l0"].detach().clone()
    p["Wax"] += 1
    assert torch.equal(named["weight_ih_l0"].detach(), before)


def test_from_torch_modules_checks_the_model_and_reads_the_weights():
    torch = pytest.importorskip("torch")
    from fastrnn.interop import from_torch_modules
    torch.manual_seed(1)
    rnn, linear = torch_modules(torch, 5, 4, 3, np.float64)
    p = from_torch_modules(rnn, linear)
    want = from_torch_state_dict({**rnn.state_dict(), **linear.state_dict()})
    for k in want:
        np.testing.assert_array_equal(p[k], want[k])
    X = np.random.default_rng(2).integers(0, 5, (2, 6))
    tprobs, _ = torch_forward(torch, rnn, linear, np.eye(5)[X])
    np.testing.assert_allclose(fastrnn.forward(p, X)[0], tprobs, rtol=0, atol=ATOL[np.float64])
    # what a state dict cannot show, each refused with the setting named
    for bad, match in [
            (torch.nn.RNN(5, 4, nonlinearity="relu"), "nonlinearity='relu'"),
            (torch.nn.LSTM(5, 4), "LSTM"),
            (torch.nn.GRU(5, 4), "GRU"),
            (torch.nn.RNN(5, 4, num_layers=2), "num_layers = 2"),
            (torch.nn.RNN(5, 4, bidirectional=True), "bidirectional = True"),
            (torch.nn.RNN(5, 4, bias=False), "bias = False")]:
        with pytest.raises(ValueError, match=re.escape(match)):
            from_torch_modules(bad, linear)
    with pytest.raises(ValueError, match="linear has no bias"):
        from_torch_modules(rnn, torch.nn.Linear(4, 3, bias=False))
    with pytest.raises(TypeError, match="rnn must be a torch.nn module"):
        from_torch_modules(rnn.state_dict(), linear)
    # the weights the modules compute with: a compiled wrapper (its state
    # dict's keys have a prefix), a pruned and a weight-normalised layer
    # (their state dicts hold the weight's parts)
    import torch.nn.utils.prune as prune
    from torch.nn.utils.parametrizations import weight_norm
    pruned = torch.nn.Linear(4, 3, dtype=torch.float64)
    prune.l1_unstructured(pruned, "weight", 0.5)
    for r, lin in [(torch.compile(rnn), linear), (rnn, pruned),
                   (rnn, weight_norm(torch.nn.Linear(4, 3, dtype=torch.float64)))]:
        q = from_torch_modules(r, lin)
        np.testing.assert_array_equal(q["Waa"], p["Waa"])
        np.testing.assert_array_equal(q["Wya"], lin.weight.detach().numpy())
    assert np.count_nonzero(from_torch_modules(rnn, pruned)["Wya"]) == 6


def test_lazily_negated_tensors_are_read_as_their_values():
    """torch._neg_view (and .conj() of a real tensor) give views NumPy cannot
    read directly; they are resolved, not refused."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    rnn, linear = torch_modules(torch, 5, 4, 3, np.float32)
    sd = {k: v.detach() for k, v in {**rnn.state_dict(), **linear.state_dict()}.items()}
    neg = dict(sd, weight_hh_l0=torch._neg_view(-sd["weight_hh_l0"]),
               weight=(-sd["weight"]).neg().conj())
    assert neg["weight_hh_l0"].is_neg()
    p, q = from_torch_state_dict(sd), from_torch_state_dict(neg)
    for k in p:
        np.testing.assert_array_equal(p[k], q[k])


def test_gradients_map_like_the_weights():
    """fastrnn's BPTT gradients are torch autograd's under the same mapping
    (d/d bias_ih = d/d bias_hh = grads["ba"])."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    rng = np.random.default_rng(6)
    I, H, O, B, T = 6, 5, 4, 2, 5
    rnn, linear = torch_modules(torch, I, H, O, np.float64)
    p = from_torch_state_dict({**rnn.state_dict(), **linear.state_dict()})
    ids = rng.integers(0, I, size=(B, T))
    Y = rng.integers(0, O, size=(B, T))
    loss, grads, _ = fastrnn.loss_and_grads(p, ids, Y)
    out, _ = rnn(torch.from_numpy(np.eye(I)[ids]))
    logits = linear(out)
    tloss = torch.nn.functional.cross_entropy(logits.reshape(-1, O), torch.from_numpy(Y).reshape(-1),
                                              reduction="sum")
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-10
    tgrads = {k: v.grad.numpy() for k, v in
              {**dict(rnn.named_parameters()), **dict(linear.named_parameters())}.items()}
    back = from_torch_state_dict({**tgrads, "bias_hh_l0": np.zeros(H)})
    for k in ("Wax", "Waa", "ba", "Wya", "by"):
        np.testing.assert_allclose(grads[k], back[k], rtol=0, atol=1e-10, err_msg=k)
    np.testing.assert_allclose(tgrads["bias_hh_l0"], grads["ba"], rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------
# bad input: clear errors naming the key
# ---------------------------------------------------------------------------
def torch_sd(dtype=np.float64):
    return to_torch_state_dict(make_params(5, 4, 3, dtype=dtype))


def keras_w(dtype=np.float64):
    return to_keras_weights(make_params(5, 4, 3, dtype=dtype))


@pytest.mark.parametrize("key", TORCH_KEYS)
def test_torch_missing_key(key):
    sd = torch_sd()
    del sd[key]
    with pytest.raises(ValueError, match=rf"missing state_dict\['{key}'\]"):
        from_torch_state_dict(sd)


@pytest.mark.parametrize("extra", ["weight_ih_l1", "weight_ih_l0_reverse", "0.weight"])
def test_torch_unexpected_key(extra):
    sd = torch_sd()
    sd[extra] = sd["weight_hh_l0"]
    with pytest.raises(ValueError, match=rf"unexpected keys \['{extra}'\]"):
        from_torch_state_dict(sd)


@pytest.mark.parametrize("key,bad", [
    ("weight_ih_l0", np.zeros((4,))),          # wrong ndim (the size source)
    ("weight_hh_l0", np.zeros((4, 5))),
    ("weight_hh_l0", np.zeros((3, 3))),
    ("bias_ih_l0", np.zeros(5)),
    ("bias_hh_l0", np.zeros((4, 1))),
    ("weight", np.zeros((3, 5))),
    ("weight", np.zeros(3)),
    ("bias", np.zeros(4)),
])
def test_torch_inconsistent_shape(key, bad):
    sd = torch_sd()
    sd[key] = bad
    with pytest.raises(ValueError, match=rf"state_dict\['{key}'\]"):
        from_torch_state_dict(sd)


def test_torch_zero_sizes():
    sd = torch_sd()
    sd["weight"] = np.zeros((0, 4))
    sd["bias"] = np.zeros(0)
    with pytest.raises(ValueError, match="output size O=0"):
        from_torch_state_dict(sd)


@pytest.mark.parametrize("key", TORCH_KEYS)
@pytest.mark.parametrize("bad_dtype", [np.int64, np.float16, np.complex128, bool])
def test_torch_non_float(key, bad_dtype):
    sd = torch_sd()
    sd[key] = sd[key].astype(bad_dtype)
    with pytest.raises(TypeError, match=rf"state_dict\['{key}'\] has dtype"):
        from_torch_state_dict(sd)


def test_torch_mixed_dtypes():
    sd = torch_sd(np.float64)
    sd["bias"] = sd["bias"].astype(np.float32)
    with pytest.raises(TypeError, match=r"state_dict\['bias'\] has dtype float32 but .* float64"):
        from_torch_state_dict(sd)


def test_torch_not_arrays():
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        from_torch_state_dict([("weight", np.zeros((2, 2)))])
    sd = torch_sd()
    sd["weight_hh_l0"] = "not an array"
    with pytest.raises(TypeError, match=r"state_dict\['weight_hh_l0'\]"):
        from_torch_state_dict(sd)
    sd["weight_hh_l0"] = [[1.0, 2.0], [3.0]]
    with pytest.raises(TypeError, match=r"state_dict\['weight_hh_l0'\]"):
        from_torch_state_dict(sd)


def test_torch_bfloat16_tensor_is_a_type_error():
    torch = pytest.importorskip("torch")
    sd = {k: torch.from_numpy(v) for k, v in torch_sd(np.float32).items()}
    sd["weight"] = sd["weight"].to(torch.bfloat16)
    with pytest.raises(TypeError, match=r"state_dict\['weight'\]"):
        from_torch_state_dict(sd)


@pytest.mark.parametrize("key", KERAS_KEYS)
def test_keras_missing_key(key):
    w = keras_w()
    del w[key]
    with pytest.raises(ValueError, match=rf"missing weights\['{key}'\]"):
        from_keras_weights(w)


@pytest.mark.parametrize("key,bad", [
    ("kernel", np.zeros(5)),
    ("recurrent_kernel", np.zeros((4, 5))),
    ("bias", np.zeros(5)),
    ("dense_kernel", np.zeros((3, 4))),       # Wya instead of Wya.T
    ("dense_bias", np.zeros(4)),
])
def test_keras_inconsistent_shape(key, bad):
    w = keras_w()
    w[key] = bad
    with pytest.raises(ValueError, match=rf"weights\['{key}'\]"):
        from_keras_weights(w)


@pytest.mark.parametrize("key", KERAS_KEYS)
def test_keras_non_float(key):
    w = keras_w()
    w[key] = w[key].astype(np.int32)
    with pytest.raises(TypeError, match=rf"weights\['{key}'\] has dtype int32"):
        from_keras_weights(w)


def test_keras_lists_name_the_entry():
    w = keras_w()
    rnn = [w["kernel"], w["recurrent_kernel"], w["bias"]]
    dense = [w["dense_kernel"], w["dense_bias"]]
    with pytest.raises(ValueError, match=r"rnn has 2 arrays; expected 3"):
        from_keras_weights(rnn=rnn[:2], dense=dense)
    with pytest.raises(ValueError, match=r"dense has 1 arrays; expected 2"):
        from_keras_weights(rnn=rnn, dense=dense[:1])
    with pytest.raises(ValueError, match=r"rnn\[2\] \(bias\) has shape \(3,\)"):
        from_keras_weights(rnn=[rnn[0], rnn[1], np.zeros(3)], dense=dense)
    with pytest.raises(TypeError, match=r"dense\[1\] \(bias\) has dtype float32"):
        from_keras_weights(rnn=rnn, dense=[dense[0], dense[1].astype(np.float32)])
    with pytest.raises(TypeError, match="rnn must be a list"):
        from_keras_weights(rnn=np.zeros(3), dense=dense)


def test_keras_argument_combinations():
    w = keras_w()
    rnn = [w["kernel"], w["recurrent_kernel"], w["bias"]]
    dense = [w["dense_kernel"], w["dense_bias"]]
    with pytest.raises(ValueError, match="not both"):
        from_keras_weights(w, rnn=rnn, dense=dense)
    with pytest.raises(ValueError, match="both rnn="):
        from_keras_weights()
    with pytest.raises(ValueError, match="both rnn="):
        from_keras_weights(rnn=rnn)
    with pytest.raises(TypeError, match="weights must be a dict"):
        from_keras_weights(rnn)


@pytest.mark.parametrize("convert", [to_torch_state_dict, to_keras_weights])
def test_to_functions_check_params(convert):
    p = make_params(5, 4, 3)
    with pytest.raises(ValueError, match=r"params is missing \['by'\]"):
        convert({k: v for k, v in p.items() if k != "by"})
    with pytest.raises(ValueError, match=r"params\['Waa'\] has shape"):
        convert({**p, "Waa": np.zeros((4, 5))})
    with pytest.raises(TypeError, match=r"params\['ba'\] has dtype int64"):
        convert({**p, "ba": np.zeros(4, dtype=np.int64)})
    with pytest.raises(TypeError, match=r"params\['Wya'\] has dtype float32"):
        convert({**p, "Wya": p["Wya"].astype(np.float32)})
