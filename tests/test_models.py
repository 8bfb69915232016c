"""LanguageModel: training by truncated BPTT, evaluation, sampling, save/load/resume."""
import math
import os
import signal

import numpy as np
import pytest

import fastrnn
from fastrnn import models
from fastrnn.data import TBPTTBatches
from fastrnn.models import LanguageModel

TEXT = "the quick brown fox jumps over the lazy dog. " * 30
PARAM_KEYS = ("Wax", "Waa", "ba", "Wya", "by")


def _model(text=TEXT, H=16, **kw):
    kw.setdefault("seed", 0)
    return LanguageModel(fastrnn.Vocabulary.from_text(text), H, **kw)


def _assert_same(m1, m2):
    for k in PARAM_KEYS:
        np.testing.assert_array_equal(m1.params[k], m2.params[k], err_msg=k)
    np.testing.assert_array_equal(m1.a0, m2.a0)
    assert m1.step_ == m2.step_


def test_construction():
    m = _model(H=8, dtype=np.float64)
    V = len(m.vocab)
    assert {k: v.shape for k, v in m.params.items()} == {
        "Wax": (8, V), "Waa": (8, 8), "ba": (8,), "Wya": (V, 8), "by": (V,)}
    assert all(v.dtype == np.float64 for v in m.params.values())
    assert m.a0.shape == (8,) and not m.a0.any()
    assert m.step_ == 0 and m.history_ == []
    r = _model(H=8, init_state="random")
    assert r.a0.shape == (8,) and r.a0.any() and np.abs(r.a0).max() <= 1
    assert "hidden_size=8" in repr(r)


@pytest.mark.parametrize("kwargs,exc", [
    ({"hidden_size": 0}, ValueError), ({"hidden_size": 2.5}, TypeError),
    ({"dtype": np.int32}, TypeError), ({"dtype": "nope"}, TypeError),
    ({"init_state": "ones"}, ValueError), ({"seed": -1}, ValueError),
    ({"seed": 1.5}, TypeError),
])
def test_bad_construction(kwargs, exc):
    args = {"hidden_size": 4, **kwargs}
    with pytest.raises(exc):
        LanguageModel(fastrnn.Vocabulary.from_text("abc"), args.pop("hidden_size"), **args)
    with pytest.raises(TypeError, match="Vocabulary"):
        LanguageModel("abc", 4)


def test_learns_a_repetitive_text():
    m = _model(H=32)
    V = len(m.vocab)
    before = m.loss(TEXT)
    assert abs(before - math.log(V)) < 0.3  # near uniform at initialisation
    m.fit(TEXT, steps=300, seq_len=32, batch_size=8, lr=0.01)
    after = m.loss(TEXT)
    assert after < 0.25 * math.log(V), (before, after)
    assert m.history_[-1]["train_loss"] < 0.5 * math.log(V)
    # it has learned the sentence: a greedy continuation reproduces it
    assert m.sample(20, prime="the quick ", top_k=1) == "brown fox jumps over"


def test_same_seed_bit_identical():
    m1 = _model(seed=3).fit(TEXT, steps=20, seq_len=8, batch_size=4)
    m2 = _model(seed=3).fit(TEXT, steps=20, seq_len=8, batch_size=4)
    _assert_same(m1, m2)
    m3 = _model(seed=4)
    assert not np.array_equal(m3.params["Waa"], _model(seed=3).params["Waa"])


def test_one_window_equals_a_direct_kernel_call():
    m = _model(dtype=np.float64)
    p0 = {k: v.copy() for k, v in m.params.items()}
    X, Y = TBPTTBatches(m.vocab.encode(TEXT), 4, 16)[0]
    loss, grads, _ = fastrnn.loss_and_grads(p0, X, Y, a0=np.zeros(16))
    # plain SGD with lr=1 and no clipping: p1 = p0 - grads / tokens
    m.fit(TEXT, steps=1, seq_len=16, batch_size=4, optimizer="sgd", lr=1.0, clip=None)
    for k in PARAM_KEYS:
        np.testing.assert_array_equal(m.params[k], p0[k] - grads[k] * (1.0 / X.size), err_msg=k)
    assert m.history_[0]["train_loss"] == pytest.approx(loss / X.size, rel=1e-12)
    # and the kernel's gradient is the reference's
    rl, rg, _ = fastrnn.reference.loss_and_grads(p0, X, Y, a0=np.zeros(16))
    assert loss == pytest.approx(rl, rel=1e-10)
    for k in PARAM_KEYS:
        np.testing.assert_allclose(grads[k], rg[k], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("init_state", ["zeros", "learned"])
def test_state_carried_between_windows_and_reset_each_pass(monkeypatch, init_state):
    calls = []
    real = models.loss_and_grads

    def spy(params, X, Y, a0=None, lengths=None):
        out = real(params, X, Y, a0, lengths)
        calls.append((X.copy(), np.array(a0, copy=True), out[2].copy()))
        return out
    monkeypatch.setattr(models, "loss_and_grads", spy)
    m = _model(init_state=init_state)
    batches = TBPTTBatches(m.vocab.encode(TEXT), 4, 50)
    n = len(batches)
    m.fit(TEXT, steps=n + 2, seq_len=50, batch_size=4)
    assert len(calls) == n + 2
    for i, (X, a0, a_last) in enumerate(calls):
        np.testing.assert_array_equal(X, batches[i % n][0])
        if i % n == 0:  # first window of a pass: the model's initial state (H,)
            assert a0.shape == (16,)
        else:           # a0 of window i is a_last of window i-1
            np.testing.assert_array_equal(a0, calls[i - 1][2])
    if init_state == "learned":  # trained through grads["a0"]
        assert m.a0.any()


def test_learned_a0_is_trained_random_and_zeros_are_not():
    for init_state, trained in (("zeros", False), ("random", False), ("learned", True)):
        m = _model(init_state=init_state)
        a0 = m.a0.copy()
        m.fit(TEXT, steps=3, seq_len=40, batch_size=4)
        assert (not np.array_equal(a0, m.a0)) == trained, init_state


@pytest.mark.parametrize("init_state", ["zeros", "random", "learned"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adagrad"])
def test_resume_is_bit_identical(tmp_path, init_state, optimizer):
    kw = dict(seq_len=10, batch_size=4, optimizer=optimizer, lr=0.01, clip=1.0)
    # 7 windows per pass: N = 5 stops mid-pass, 2N crosses into the next pass
    assert len(TBPTTBatches(_model().vocab.encode(TEXT), 4, 10)) > 5
    straight = _model(init_state=init_state).fit(TEXT, steps=10, **kw)
    first = _model(init_state=init_state).fit(TEXT, steps=5, **kw)
    first.save(tmp_path / "half.npz")
    resumed = LanguageModel.load(tmp_path / "half.npz").fit(TEXT, steps=5, **kw)
    _assert_same(straight, resumed)
    twice = _model(init_state=init_state).fit(TEXT, steps=5, **kw).fit(TEXT, steps=5, **kw)
    _assert_same(straight, twice)


def test_resume_with_epochs_and_longer_runs(tmp_path):
    kw = dict(seq_len=16, batch_size=3)
    straight = _model().fit(TEXT, steps=60, **kw)
    m = _model().fit(TEXT, steps=23, **kw)
    m.save(tmp_path / "a.npz")
    m = LanguageModel.load(tmp_path / "a.npz").fit(TEXT, steps=37, **kw)
    _assert_same(straight, m)
    n = len(TBPTTBatches(m.vocab.encode(TEXT), 3, 16))
    assert _model().fit(TEXT, epochs=2, **kw).step_ == 2 * n
    assert _model().fit(TEXT, **kw).step_ == n


def test_other_data_starts_a_new_pass():
    m = _model().fit(TEXT, steps=3, seq_len=10, batch_size=4)
    other = TEXT[::-1]
    m.fit(other, steps=1, seq_len=10, batch_size=4)  # window 0 of the new data
    assert m._trainer["window"] == 1
    m.fit(other, steps=1, seq_len=12, batch_size=4)  # another cut: new pass too
    assert m._trainer["window"] == 1


def test_switching_optimizer_resets_its_state_lr_change_keeps_it():
    m = _model().fit(TEXT, steps=2, seq_len=10, batch_size=4, lr=0.01)
    opt = m._optimizer
    m.fit(TEXT, steps=1, seq_len=10, batch_size=4, lr=0.005)
    assert m._optimizer is opt and opt.lr == 0.005 and opt.step_count == 3
    m.fit(TEXT, steps=1, seq_len=10, batch_size=4, optimizer="sgd", lr=0.1)
    assert m._optimizer is not opt and m._optimizer.step_count == 1
    assert m.step_ == 4


def test_clip_by_value_and_no_clip():
    for clip, mode in ((0.01, "value"), (None, "norm"), (0.5, "norm")):
        m = _model().fit(TEXT, steps=3, seq_len=10, batch_size=4, clip=clip, clip_mode=mode)
        assert m.step_ == 3


def test_callback_and_history():
    infos = []
    val = "the lazy dog jumps over the quick brown fox. " * 3
    m = _model().fit(TEXT, steps=25, seq_len=10, batch_size=4, val_data=val,
                     eval_every=10, callback=infos.append)
    assert [i["step"] for i in infos] == [10, 20, 25]
    assert m.history_ == infos
    for info in infos:
        assert set(info) == {"step", "train_loss", "val_loss", "tokens_per_sec", "elapsed"}
        assert info["train_loss"] > 0 and info["tokens_per_sec"] > 0 and info["elapsed"] > 0
    assert infos[-1]["val_loss"] == pytest.approx(m.loss(val))
    m.fit(TEXT, steps=5, seq_len=10, batch_size=4, eval_every=10, callback=infos.append)
    assert infos[-1]["step"] == 30 and infos[-1]["val_loss"] is None


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    _model().fit(TEXT, steps=12, seq_len=10, batch_size=4, eval_every=5, progress=True,
                 val_data=TEXT[:100])
    err = capsys.readouterr().err
    assert "12/12" in err and "val=" in err and "tok/s=" in err


def test_progress_without_tqdm(capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    _model().fit(TEXT, steps=6, seq_len=10, batch_size=4, eval_every=5, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("step 5: train loss ") and err[0].endswith(" tokens/s")
    assert err[1].startswith("step 6: train loss ")


def test_divergence_raises_and_keeps_last_good_step():
    m = _model()
    m.params["Wya"][0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="step 1"):
        m.fit(TEXT, steps=3, seq_len=10, batch_size=4)
    assert m.step_ == 0


def test_ctrl_c_stops_after_a_whole_step(tmp_path):
    def interrupt(info):
        if info["step"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
    m = _model()
    with pytest.raises(KeyboardInterrupt):
        m.fit(TEXT, steps=50, seq_len=10, batch_size=4, eval_every=2, callback=interrupt)
    assert m.step_ == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    m.save(tmp_path / "m.npz")
    resumed = LanguageModel.load(tmp_path / "m.npz").fit(TEXT, steps=6, seq_len=10, batch_size=4)
    _assert_same(resumed, _model().fit(TEXT, steps=10, seq_len=10, batch_size=4))


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"steps": 2, "epochs": 1}, ValueError, "not both"),
    ({"steps": 0}, ValueError, "steps"),
    ({"seq_len": 0}, ValueError, "seq_len"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"clip": 0.0}, ValueError, "clip"),
    ({"clip_mode": "l2"}, ValueError, "clip_mode"),
    ({"optimizer": "rmsprop"}, ValueError, "rmsprop"),
    ({"eval_every": 0}, ValueError, "eval_every"),
    ({"callback": 3}, TypeError, "callback"),
    ({"batch_size": 10_000}, ValueError, "batch_size"),
    ({"val_data": "x"}, ValueError, "val_data"),
])
def test_bad_fit_arguments_change_nothing(kwargs, exc, match):
    m = _model()
    before = {k: v.copy() for k, v in m.params.items()}
    with pytest.raises(exc, match=match):
        m.fit(TEXT, **{"steps": 2, **kwargs})
    for k in PARAM_KEYS:
        np.testing.assert_array_equal(m.params[k], before[k])
    assert m.step_ == 0


def test_fit_on_ids_and_bad_ids():
    m = _model()
    ids = m.vocab.encode(TEXT)
    a = _model().fit(ids, steps=3, seq_len=10, batch_size=4)
    b = _model().fit(TEXT, steps=3, seq_len=10, batch_size=4)
    _assert_same(a, b)
    V = len(m.vocab)
    with pytest.raises(ValueError, match=f"token id {V} at \\[1\\]"):
        m.fit([0, V, 1], steps=1)
    with pytest.raises(ValueError, match="negative"):
        m.fit([0, -1, 1], steps=1)
    with pytest.raises(TypeError):
        m.fit(np.array([0.0, 1.0]), steps=1)
    with pytest.raises(ValueError, match="at least 2"):
        m.loss("t")


def test_loss_is_the_exact_sequential_cross_entropy():
    m = _model(dtype=np.float64, init_state="random")
    m.fit(TEXT, steps=5, seq_len=10, batch_size=4)
    ids = m.vocab.encode(TEXT[:700])
    probs, _ = fastrnn.reference.forward(m.params, ids[None, :-1], a0=m.a0)
    expected = -np.mean(np.log(probs[0, np.arange(ids.size - 1), ids[1:]]))
    assert m.loss(ids, batch_size=1) == pytest.approx(expected, rel=1e-12)
    assert m.loss(TEXT[:700], batch_size=1) == m.loss(ids, batch_size=1)
    assert m.perplexity(ids, batch_size=1) == pytest.approx(math.exp(expected))
    # default: parallel streams, close to the sequential value
    assert m.loss(ids) == pytest.approx(expected, rel=0.05)


def test_uniform_model_loss_is_log_v():
    m = _model()
    m.params["Wya"][:] = 0
    assert m.loss(TEXT) == pytest.approx(math.log(len(m.vocab)), rel=1e-6)


def test_sample():
    m = _model().fit(TEXT, steps=50, seq_len=16, batch_size=4, lr=0.01)
    s = m.sample(40, seed=1)
    assert isinstance(s, str) and len(s) == 40 and set(s) <= set(TEXT)
    assert s == m.sample(40, seed=1)
    assert m.sample(40, prime="the ", seed=2, temperature=0.5, top_k=3) == \
        m.sample(40, prime="the ", seed=2, temperature=0.5, top_k=3)
    stopped = m.sample(500, seed=0, stop=".")
    assert stopped.endswith(".") and stopped.count(".") == 1 or len(stopped) == 500
    with pytest.raises(ValueError, match="not in the vocabulary"):
        m.sample(5, stop="Z")
    with pytest.raises(ValueError):
        m.sample(5, temperature=0)
    with pytest.raises(ValueError, match="length must be >= 0, got -1"):
        m.sample(-1)
    with pytest.raises(TypeError):
        m.sample(5, prime=3)


@pytest.mark.parametrize("level", ["char", "word"])
def test_sample_of_length_zero_is_empty_as_in_fastrnn_sample(level):
    # LanguageModel.sample(0) refused 0, which fastrnn.sample accepts (no ids)
    m = LanguageModel.from_text(TEXT, 8, level=level, seed=0)
    assert fastrnn.sample(m.params, 0, a0=m.a0, seed=0).shape == (0,)
    for kwargs in [{}, {"prime": "the "}, {"seed": 3, "temperature": 0.5, "top_k": 2},
                   {"stop": m.vocab.tokens[-1]}]:
        s = m.sample(0, **kwargs)
        assert isinstance(s, str) and s == m.vocab.decode(fastrnn.sample(m.params, 0)), kwargs
        assert s == ""
    # the other arguments are still checked
    with pytest.raises(TypeError, match="prime must be a str"):
        m.sample(0, prime=3)
    with pytest.raises(ValueError, match="temperature"):
        m.sample(0, temperature=0)


def test_word_level_model(tmp_path):
    text = "the cat sat on the mat . the dog sat on the log . " * 20
    m = LanguageModel.from_text(text, 16, level="word", seed=0)
    m.fit(text, steps=60, seq_len=8, batch_size=4, lr=0.02)
    assert m.loss(text) < 0.5 * math.log(len(m.vocab))
    words = m.sample(10, prime="the cat", seed=0).split(" ")
    assert len(words) == 10 and set(words) <= set(m.vocab.tokens)
    m.save(tmp_path / "w.npz")
    assert LanguageModel.load(tmp_path / "w.npz").vocab.level == "word"


def test_save_load_round_trip_and_config(tmp_path):
    m = _model(dtype=np.float64, init_state="learned", seed=5)
    m.fit(TEXT, steps=4, seq_len=10, batch_size=4, lr=0.003, clip_mode="value",
          eval_every=2)
    m.save(tmp_path / "m.npz")
    r = LanguageModel.load(tmp_path / "m.npz")
    _assert_same(m, r)
    assert r.vocab == m.vocab and r.dtype == np.float64 and r.seed == 5
    assert r.init_state == "learned" and r.history_ == m.history_
    assert r.get_config() == m.get_config()
    assert r.get_config()["fit"] == {"optimizer": "adam", "lr": 0.003, "clip": 5.0,
                                     "clip_mode": "value", "batch_size": 4, "seq_len": 10}
    assert r.params["Wax"].flags.f_contiguous
    assert r.sample(30, seed=0) == m.sample(30, seed=0)
    # an untrained model saves and loads too
    _model().save(tmp_path / "u.npz")
    assert LanguageModel.load(tmp_path / "u.npz").step_ == 0


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        LanguageModel.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="junk.npz"):
        LanguageModel.load(tmp_path / "junk.npz")


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "adam"])
@pytest.mark.parametrize("init_state", ["zeros", "learned"])
def test_fit_after_rebinding_the_parameters_trains_them(optimizer, init_state):
    # params (or a0) replaced by equal arrays between fits, e.g. round-tripped
    # through PyTorch: the next fit trains the new arrays (it updated the old
    # ones, the model's stayed put) as if they had been assigned in place
    a, b = _model(init_state=init_state), _model(init_state=init_state)
    kw = dict(steps=4, seq_len=8, batch_size=2, optimizer=optimizer)
    a.fit(TEXT, **kw)
    b.fit(TEXT, **kw)
    b.params = {k: v.copy() for k, v in b.params.items()}
    b.params["Waa"] = b.params["Waa"].copy()
    b.a0 = b.a0.copy()
    a.fit(TEXT, **kw)
    b.fit(TEXT, **kw)
    _assert_same(a, b)


def test_fit_after_rebinding_uses_this_fits_lr():
    m = _model()
    m.fit(TEXT, steps=2, seq_len=8, batch_size=2, lr=1e-3)
    m.params = {k: v.copy() for k, v in m.params.items()}
    m.fit(TEXT, steps=1, seq_len=8, batch_size=2, lr=5e-2)
    assert m._optimizer.lr == 5e-2
