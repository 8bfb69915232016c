"""One table of bad inputs over every public model method, helper and CLI flag.

The numerical functions (forward, loss_and_grads, sample) have their own table
in test_validate.py; this one covers what is built on them: LanguageModel,
SequenceClassifier, Vocabulary, the optimizers and clipping, TBPTTBatches and
split_ids, checkpoints, the interop converters and the ``fastrnn`` command.

Every case must raise ValueError, IndexError or TypeError (OSError subclasses
for files that are missing) with a message naming the argument and the bad
value, and must leave the caller's arrays and the object called unchanged.
"""
import math
import os
import re

import numpy as np
import pytest

import fastrnn
from fastrnn import checkpoint, interop, optim
from fastrnn.classifier import NotFittedError, SequenceClassifier
from fastrnn.cli import main
from fastrnn.data import TBPTTBatches, as_ids, split_ids
from fastrnn.models import LanguageModel
from fastrnn.vocab import Vocabulary

TEXT = "the quick brown fox jumps over the lazy dog. " * 12
KEYS = ("Wax", "Waa", "ba", "Wya", "by")
BIG_U64 = np.uint64(2**64 - 1)


# ---------------------------------------------------------------------------
# the objects called, trained once; each case checks they did not change
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    lm = LanguageModel(Vocabulary.from_text(TEXT), 8, seed=0)
    lm.fit(TEXT, steps=3, seq_len=8, batch_size=4)
    rng = np.random.default_rng(0)
    X = [rng.integers(0, 3, size=n) for n in rng.integers(2, 6, size=24)]
    y = np.array([int(s[0]) % 2 for s in X])
    clf = SequenceClassifier(hidden_size=4, epochs=1, seed=0).fit(X, y)
    return lm, clf, X, y


def _lm_state(lm):
    opt = lm._optimizer.state_dict() if lm._optimizer is not None else {}
    return ({k: v.copy() for k, v in lm.params.items()}, lm.a0.copy(), lm.step_,
            len(lm.history_), dict(lm._fit_config), dict(lm._trainer or {}),
            None if lm._carry is None else lm._carry.copy(), opt)


def _clf_state(clf):
    return ({k: v.copy() for k, v in clf.params_.items()}, clf.a0_.copy(), clf.t_,
            clf.n_iter_, list(clf.loss_curve_), clf.classes_.copy(),
            clf._optimizer.state_dict())


def _assert_same(a, b, what):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            _assert_same(a[k], b[k], f"{what}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), what
        for i, (x, z) in enumerate(zip(a, b)):
            _assert_same(x, z, f"{what}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=what)
        assert a.dtype == b.dtype, what
    else:
        assert a == b or (a != a and b != b), what


class Ctx:
    """What a case may use; `own` registers a caller array to check afterwards."""

    def __init__(self, trained, tmp_path):
        self.lm, self.clf, self.X, self.y = trained
        self.V = len(self.lm.vocab)
        self.vocab = self.lm.vocab
        self.tmp = tmp_path
        self.params = fastrnn.init_params(self.V, 4, seed=1)
        self.opt_params = {"w": np.arange(3.0), "b": np.ones((2, 2), np.float32)}
        self.opt = optim.Adam(self.opt_params, lr=0.1)
        self._owned = []
        self.created = []  # files a case wrote as its input

    def own(self, a):
        if isinstance(a, np.ndarray):
            self._owned.append((a, a.copy()))
        return a

    def check_owned(self):
        for a, before in self._owned:
            np.testing.assert_array_equal(a, before)
            assert a.dtype == before.dtype


def _u64(*values):
    return np.array(values, dtype=np.uint64)


def _ro(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _clf_with(c, **changes):
    return SequenceClassifier(**{**c.clf.get_params(), "epochs": 1, **changes})


V_TOK = "{V}"  # replaced by the vocabulary size in `match`

# (id, call, exception, regex naming the argument and the bad value)
CASES = [
    # -- LanguageModel(...) and from_text ----------------------------------------
    ("LM/vocab", lambda c: LanguageModel(["a", "b"], 4), TypeError, "vocab must be .*Vocabulary.*list"),
    ("LM/hidden=-1", lambda c: LanguageModel(c.vocab, -1), ValueError, "hidden_size must be >= 1, got -1"),
    ("LM/hidden=True", lambda c: LanguageModel(c.vocab, True), TypeError, "hidden_size must be an integer, got True"),
    ("LM/hidden=2**40", lambda c: LanguageModel(c.vocab, 2**40), ValueError, "hidden_size = 1099511627776 exceeds"),
    ("LM/hidden='8'", lambda c: LanguageModel(c.vocab, "8"), TypeError, "hidden_size must be an integer, got '8'"),
    ("LM/dtype=float16", lambda c: LanguageModel(c.vocab, 4, dtype=np.float16), TypeError, "dtype must be float32 or float64, got float16"),
    ("LM/dtype=complex", lambda c: LanguageModel(c.vocab, 4, dtype=complex), TypeError, "dtype must be float32 or float64, got complex128"),
    ("LM/seed=-1", lambda c: LanguageModel(c.vocab, 4, seed=-1), ValueError, "seed must be >= 0, got -1"),
    ("LM/init_state", lambda c: LanguageModel(c.vocab, 4, init_state=None), ValueError, "init_state must be one of .* got None"),
    ("from_text/text", lambda c: LanguageModel.from_text(b"abc"), TypeError, "text must be a str, got bytes"),
    ("from_text/level", lambda c: LanguageModel.from_text("abc", level="byte"), ValueError, "level must be 'char' or 'word', got 'byte'"),
    ("from_text/max_vocab=0", lambda c: LanguageModel.from_text("abc", max_vocab=0), ValueError, "max_size=0"),
    ("from_text/max_vocab=1.5", lambda c: LanguageModel.from_text("abc", max_vocab=1.5), TypeError, "max_size must be an int or None, got float"),

    # -- LanguageModel.fit: data -------------------------------------------------
    ("fit/data float", lambda c: c.lm.fit(c.own(np.array([0.0, 1.0, 2.0])), steps=1), TypeError, "data must be integer token ids, got dtype float64"),
    ("fit/data bool", lambda c: c.lm.fit([True, False, True], steps=1), TypeError, "data must be integer token ids, got dtype bool"),
    ("fit/data complex", lambda c: c.lm.fit(c.own(np.ones(3, np.complex64)), steps=1), TypeError, "data must be integer token ids, got dtype complex64"),
    ("fit/data object", lambda c: c.lm.fit(c.own(np.array([0, None, 1], dtype=object)), steps=1), TypeError, "data must be integer token ids, got dtype object"),
    ("fit/data None", lambda c: c.lm.fit(None, steps=1), TypeError, "data must be integer token ids, got dtype object"),
    ("fit/data bytes", lambda c: c.lm.fit(b"the cat", steps=1), TypeError, "data must be integer token ids, got dtype |S7"),
    ("fit/data 0-d", lambda c: c.lm.fit(5, steps=1), ValueError, r"data must be a 1-d sequence of token ids, got shape \(\)"),
    ("fit/data 2-d", lambda c: c.lm.fit(c.own(np.zeros((2, 5), int)), steps=1), ValueError, r"data must be a 1-d .* got shape \(2, 5\)"),
    ("fit/data ragged", lambda c: c.lm.fit([[0, 1], [2]], steps=1), TypeError, "data could not be converted"),
    ("fit/data id -1", lambda c: c.lm.fit(c.own(np.array([0, 1, -1, 2])), steps=1), IndexError, r"data has a negative id -1 at \[2\]"),
    ("fit/data id V", lambda c: c.lm.fit(c.own(np.array([0, c.V, 1])), steps=1), IndexError, r"data has token id {V} at \[1\]; the vocabulary size is {V}"),
    ("fit/data id 2**40", lambda c: c.lm.fit(c.own(np.array([0, 1, 2**40])), steps=1), IndexError, r"data has token id 1099511627776 at \[2\]"),
    ("fit/data uint64 max", lambda c: c.lm.fit(c.own(_u64(0, 2**64 - 1, 1)), steps=1), IndexError, r"data has token id 18446744073709551615 at \[1\]"),
    ("fit/data empty", lambda c: c.lm.fit([], steps=1), ValueError, r"data has 0 token\(s\); at least 2"),
    ("fit/data one token", lambda c: c.lm.fit("t", steps=1), ValueError, r"data has 1 token\(s\); at least 2"),
    ("fit/data short for batch", lambda c: c.lm.fit("the cat", steps=1, batch_size=32), ValueError, "at least batch_size \\+ 1 = 33"),
    # -- LanguageModel.fit: options ------------------------------------------------
    ("fit/steps=-1", lambda c: c.lm.fit(TEXT, steps=-1), ValueError, "steps must be >= 1, got -1"),
    ("fit/steps=1.5", lambda c: c.lm.fit(TEXT, steps=1.5), TypeError, "steps must be an integer, got 1.5"),
    ("fit/steps='3'", lambda c: c.lm.fit(TEXT, steps="3"), TypeError, "steps must be an integer, got '3'"),
    ("fit/steps=True", lambda c: c.lm.fit(TEXT, steps=True), TypeError, "steps must be an integer, got True"),
    ("fit/epochs=0", lambda c: c.lm.fit(TEXT, epochs=0), ValueError, "epochs must be >= 1, got 0"),
    ("fit/epochs=1.0", lambda c: c.lm.fit(TEXT, epochs=1.0), TypeError, "epochs must be an integer, got 1.0"),
    ("fit/seq_len=-1", lambda c: c.lm.fit(TEXT, steps=1, seq_len=-1), ValueError, "seq_len must be >= 1, got -1"),
    ("fit/batch_size=2.0", lambda c: c.lm.fit(TEXT, steps=1, batch_size=2.0), TypeError, "batch_size must be an integer, got 2.0"),
    ("fit/lr='x'", lambda c: c.lm.fit(TEXT, steps=1, lr="x"), TypeError, "lr must be a number, got 'x'"),
    ("fit/lr=True", lambda c: c.lm.fit(TEXT, steps=1, lr=True), TypeError, "lr must be a number, got True"),
    ("fit/lr=inf", lambda c: c.lm.fit(TEXT, steps=1, lr=math.inf), ValueError, "lr must be a positive finite number, got inf"),
    ("fit/lr=0", lambda c: c.lm.fit(TEXT, steps=1, lr=0), ValueError, "lr must be a positive finite number, got 0"),
    ("fit/clip=-1", lambda c: c.lm.fit(TEXT, steps=1, clip=-1), ValueError, "clip must be a positive finite number, got -1"),
    ("fit/clip='5'", lambda c: c.lm.fit(TEXT, steps=1, clip="5"), TypeError, "clip must be a number, got '5'"),
    ("fit/clip=nan", lambda c: c.lm.fit(TEXT, steps=1, clip=math.nan), ValueError, "clip must be a positive finite number, got nan"),
    ("fit/optimizer=3", lambda c: c.lm.fit(TEXT, steps=1, optimizer=3), ValueError, "unknown optimizer 3"),
    ("fit/optimizer=None", lambda c: c.lm.fit(TEXT, steps=1, optimizer=None), ValueError, "unknown optimizer None"),
    ("fit/clip_mode=None", lambda c: c.lm.fit(TEXT, steps=1, clip_mode=None), ValueError, "clip_mode must be 'norm' or 'value', got None"),
    ("fit/eval_every=-1", lambda c: c.lm.fit(TEXT, steps=1, eval_every=-1), ValueError, "eval_every must be >= 1, got -1"),
    ("fit/eval_every=1.5", lambda c: c.lm.fit(TEXT, steps=1, eval_every=1.5), TypeError, "eval_every must be an integer, got 1.5"),
    ("fit/val_data=3", lambda c: c.lm.fit(TEXT, steps=1, val_data=3), ValueError, r"val_data must be a 1-d .* shape \(\)"),
    ("fit/val_data id V", lambda c: c.lm.fit(TEXT, steps=1, val_data=[0, c.V]), IndexError, r"val_data has token id {V} at \[1\]"),
    ("fit/val_data float", lambda c: c.lm.fit(TEXT, steps=1, val_data=c.own(np.zeros(4))), TypeError, "val_data must be integer token ids, got dtype float64"),
    ("fit/callback=3", lambda c: c.lm.fit(TEXT, steps=1, callback=3), TypeError, "callback must be callable, got int"),
    ("fit/progress='yes'", lambda c: c.lm.fit(TEXT, steps=1, progress="yes"), TypeError, "progress must be a bool, got 'yes'"),
    # -- LanguageModel.loss / perplexity ----------------------------------------------
    ("loss/data id V", lambda c: c.lm.loss(c.own(np.array([0, c.V]))), IndexError, r"data has token id {V} at \[1\]"),
    ("loss/data uint64", lambda c: c.lm.loss(c.own(_u64(1, 2**63))), IndexError, r"data has token id 9223372036854775808 at \[1\]"),
    ("loss/data list of str", lambda c: c.lm.loss(["t", "h"]), TypeError, "data must be integer token ids, got dtype <U1"),
    ("loss/batch_size=0", lambda c: c.lm.loss(TEXT, batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    ("loss/batch_size=1.5", lambda c: c.lm.loss(TEXT, batch_size=1.5), TypeError, "batch_size must be an integer, got 1.5"),
    ("loss/batch_size=10**9", lambda c: c.lm.loss(TEXT, batch_size=10**9), ValueError, "batch_size \\+ 1 = 1000000001"),
    ("perplexity/data 2-d", lambda c: c.lm.perplexity(c.own(np.zeros((1, 4), int))), ValueError, r"data must be a 1-d .* shape \(1, 4\)"),
    ("perplexity/batch_size=-3", lambda c: c.lm.perplexity(TEXT, batch_size=-3), ValueError, "batch_size must be >= 1, got -3"),
    # -- LanguageModel.sample --------------------------------------------------------
    ("sample/length=-1", lambda c: c.lm.sample(-1), ValueError, "length must be >= 0, got -1"),
    ("sample/length=1.5", lambda c: c.lm.sample(1.5), TypeError, "length must be an integer, got 1.5"),
    ("sample/length='3'", lambda c: c.lm.sample("3"), TypeError, "length must be an integer, got '3'"),
    ("sample/temperature=-1", lambda c: c.lm.sample(5, temperature=-1), ValueError, "temperature must be a positive finite number, got -1"),
    ("sample/temperature=nan", lambda c: c.lm.sample(5, temperature=math.nan), ValueError, "temperature must be a positive finite number, got nan"),
    ("sample/temperature='1'", lambda c: c.lm.sample(5, temperature="1"), TypeError, "temperature must be a number, got '1'"),
    ("sample/top_k=0", lambda c: c.lm.sample(5, top_k=0), ValueError, "top_k must be >= 1, got 0"),
    ("sample/top_k=V+1", lambda c: c.lm.sample(5, top_k=c.V + 1), ValueError, r"top_k must be in \[1, {V}\] .* got {V1}"),
    ("sample/top_k=1.5", lambda c: c.lm.sample(5, top_k=1.5), TypeError, "top_k must be an integer, got 1.5"),
    ("sample/seed=-1", lambda c: c.lm.sample(5, seed=-1), ValueError, "seed must be >= 0, got -1"),
    ("sample/seed=1.5", lambda c: c.lm.sample(5, seed=1.5), TypeError, "seed must be an integer, got 1.5"),
    ("sample/seed='a'", lambda c: c.lm.sample(5, seed="a"), TypeError, "seed must be an integer, got 'a'"),
    ("sample/prime bytes", lambda c: c.lm.sample(5, prime=b"th"), TypeError, "prime must be a str, got bytes"),
    ("sample/prime ids", lambda c: c.lm.sample(5, prime=c.own(np.array([1, 2]))), TypeError, "prime must be a str, got ndarray"),
    ("sample/stop=3", lambda c: c.lm.sample(5, stop=3), ValueError, "stop token 3 is not in the vocabulary"),
    ("sample/stop=''", lambda c: c.lm.sample(5, stop=""), ValueError, "stop token '' is not in the vocabulary"),
    ("sample/stop='th'", lambda c: c.lm.sample(5, stop="th"), ValueError, "stop token 'th' is not in the vocabulary"),
    # -- LanguageModel.hidden_states ------------------------------------------------
    ("hidden_states/data empty", lambda c: c.lm.hidden_states(""), ValueError, "data has no tokens"),
    ("hidden_states/data id V", lambda c: c.lm.hidden_states(c.own(np.array([1, c.V]))), IndexError, r"data has token id {V} at \[1\]"),
    ("hidden_states/data float", lambda c: c.lm.hidden_states(c.own(np.ones(3))), TypeError, "data must be integer token ids, got dtype float64"),
    ("hidden_states/data uint64", lambda c: c.lm.hidden_states(c.own(_u64(2**64 - 1))), IndexError, "data has token id 18446744073709551615"),
    ("hidden_states/prime ids", lambda c: c.lm.hidden_states("the", prime=c.own(np.array([1]))), TypeError, "prime must be a str, got ndarray"),
    # -- LanguageModel.save / load -----------------------------------------------------
    ("save/path=3", lambda c: c.lm.save(3), TypeError, "int"),
    ("save/path=None", lambda c: c.lm.save(None), TypeError, "NoneType"),
    ("save/no directory", lambda c: c.lm.save(c.tmp / "nodir" / "m.npz"), FileNotFoundError, r"cannot write '.*nodir/m\.npz': directory '.*nodir' does not exist"),
    ("save/empty path", lambda c: c.lm.save(""), FileNotFoundError, "empty path"),
    ("save/a directory", lambda c: c.lm.save(c.tmp), IsADirectoryError, "it is a directory"),
    ("load/path=3", lambda c: LanguageModel.load(3), TypeError, "int"),
    ("load/missing", lambda c: LanguageModel.load(c.tmp / "missing.npz"), FileNotFoundError, r"missing\.npz' does not exist"),
    ("load/a directory", lambda c: LanguageModel.load(c.tmp), ValueError, "is a directory, not a checkpoint file"),
    ("load/a text file", lambda c: LanguageModel.load(c.write("t.npz", b"hello")), ValueError, r"t\.npz' is not a valid fastrnn checkpoint: it is not an \.npz archive"),
    ("load/empty file", lambda c: LanguageModel.load(c.write("e.npz", b"")), ValueError, r"e\.npz' is not a valid fastrnn checkpoint: the file is empty"),

    # -- SequenceClassifier ------------------------------------------------------------
    ("clf.predict/unfitted", lambda c: SequenceClassifier().predict([[0, 1]]), NotFittedError, "not fitted yet"),
    ("clf.predict/id -1", lambda c: c.clf.predict([c.own(np.array([0, 1])), c.own(np.array([2, -1]))]), IndexError, r"X\[1\] has token id -1 at position 1"),
    ("clf.predict/id 3", lambda c: c.clf.predict(c.own(np.array([[0, 1], [3, 0]]))), IndexError, r"X\[1\] has token id 3 at position 0"),
    ("clf.predict/id 2**40", lambda c: c.clf.predict([[0, 2**40]]), IndexError, r"X\[0\] has token id 1099511627776 at position 1"),
    ("clf.predict/uint64 list", lambda c: c.clf.predict([c.own(_u64(0, 2**63))]), IndexError, r"X\[0\] has token id 9223372036854775808 at position 1"),
    ("clf.predict/uint64 2-d", lambda c: c.clf.predict(c.own(np.array([[0, 1], [1, BIG_U64]], dtype=np.uint64))), IndexError, r"X has token id 18446744073709551615 at position \[1, 1\]"),
    ("clf.predict/float ids", lambda c: c.clf.predict([[0.0, 1.0]]), TypeError, r"X\[0\] has dtype float64; token ids must be integers"),
    ("clf.predict/bool ids", lambda c: c.clf.predict([[True, False]]), TypeError, r"X\[0\] has dtype bool"),
    ("clf.predict/complex ids", lambda c: c.clf.predict([c.own(np.ones(2, np.complex128))]), TypeError, r"X\[0\] has dtype complex128"),
    ("clf.predict/object ids", lambda c: c.clf.predict([c.own(np.array([1, 2], dtype=object))]), TypeError, r"X\[0\] has dtype object"),
    ("clf.predict/3-d", lambda c: c.clf.predict(c.own(np.zeros((2, 2, 2), int))), TypeError, r"shape \(2, 2, 2\)"),
    ("clf.predict/empty batch", lambda c: c.clf.predict([]), ValueError, "X is empty"),
    ("clf.predict/T=0", lambda c: c.clf.predict(c.own(np.zeros((2, 0), int))), ValueError, r"X\[0\] is an empty sequence"),
    ("clf.predict/empty sequence", lambda c: c.clf.predict([[0], []]), ValueError, r"X\[1\] is an empty sequence"),
    ("clf.predict/None", lambda c: c.clf.predict(None), TypeError, "X must be a list of integer id sequences, got NoneType"),
    ("clf.predict/str", lambda c: c.clf.predict("abc"), TypeError, "got a single str"),
    ("clf.predict_proba/2-d element", lambda c: c.clf.predict_proba([[0, 1], c.own(np.zeros((2, 2), int))]), ValueError, r"X\[1\] must be a 1-d sequence of token ids, got shape \(2, 2\)"),
    ("clf.predict_proba/id 3", lambda c: c.clf.predict_proba([[0, 3]]), IndexError, r"X\[0\] has token id 3 at position 1"),
    ("clf.score/y length", lambda c: c.clf.score(c.X, c.own(c.y[:-1].copy())), ValueError, "24 sequences, 23 labels"),
    ("clf.score/y 2-d", lambda c: c.clf.score(c.X, c.own(c.y[:, None].copy())), ValueError, r"y must be 1-d .* shape \(24, 1\)"),
    ("clf.score/X bad", lambda c: c.clf.score([[0, 9]], [0]), IndexError, r"X\[0\] has token id 9"),
    ("clf.fit/y NaN", lambda c: _clf_with(c).fit(c.X, c.own(np.where(c.y == 0, np.nan, 1.0))), ValueError, r"y has the label .*nan.* at \[\d+\]"),
    ("clf.fit/y inf", lambda c: _clf_with(c).fit(c.X, c.own(np.where(c.y == 0, np.inf, 1.0))), ValueError, r"y has the label .*inf.* at \[\d+\]"),
    ("clf.fit/y unsortable", lambda c: _clf_with(c).fit(c.X, [None] * 12 + [1] * 12), TypeError, "y holds labels that cannot be sorted"),
    ("clf.fit/y None", lambda c: _clf_with(c).fit(c.X, None), ValueError, r"y must be 1-d .* shape \(\)"),
    ("clf.fit/one class", lambda c: _clf_with(c).fit(c.X, [7] * 24), ValueError, "only one class: 7"),
    ("clf.fit/seed=-1", lambda c: _clf_with(c, seed=-1).fit(c.X, c.y), ValueError, "seed must be >= 0, got -1"),
    ("clf.fit/seed=1.5", lambda c: _clf_with(c, seed=1.5).fit(c.X, c.y), TypeError, "seed must be an integer, got 1.5"),
    ("clf.fit/shuffle='no'", lambda c: _clf_with(c, shuffle="no").fit(c.X, c.y), TypeError, "shuffle must be a bool, got 'no'"),
    ("clf.fit/verbose=-1", lambda c: _clf_with(c, verbose=-1).fit(c.X, c.y), ValueError, "verbose must be >= 0, got -1"),
    ("clf.fit/verbose='x'", lambda c: _clf_with(c, verbose="x").fit(c.X, c.y), TypeError, "verbose must be an integer, got 'x'"),
    ("clf.fit/hidden 2**40", lambda c: _clf_with(c, hidden_size=2**40).fit(c.X, c.y), ValueError, "hidden_size = 1099511627776 exceeds"),
    ("clf.fit/lr nan", lambda c: _clf_with(c, lr=math.nan).fit(c.X, c.y), ValueError, "lr must be a positive finite number, got nan"),
    ("clf.fit/batch_size -1", lambda c: _clf_with(c, batch_size=-1).fit(c.X, c.y), ValueError, "batch_size must be >= 1, got -1"),
    ("clf.fit/clip '5'", lambda c: _clf_with(c, clip="5").fit(c.X, c.y), TypeError, "clip must be a positive number or None, got '5'"),
    ("clf.fit/dtype int", lambda c: _clf_with(c, dtype=np.int32).fit(c.X, c.y), TypeError, "dtype must be float32 or float64, got int32"),
    ("clf.partial_fit/id 3", lambda c: c.clf.partial_fit([[0, 3]], [0]), IndexError, r"X\[0\] has token id 3 at position 1"),
    ("clf.partial_fit/new label", lambda c: c.clf.partial_fit([[0, 1]], [5]), ValueError, r"y contains labels not in classes: \[5\]"),
    ("clf.partial_fit/other classes", lambda c: c.clf.partial_fit([[0, 1]], [0], classes=[0, 1, 2]), ValueError, r"classes=\[0, 1, 2\] is not the same"),
    ("clf.partial_fit/y length", lambda c: c.clf.partial_fit([[0, 1]], [0, 1]), ValueError, "1 sequences, 2 labels"),
    ("clf.partial_fit/no classes", lambda c: _clf_with(c).partial_fit(c.X, c.y), ValueError, "classes must be passed on the first call"),
    ("clf.partial_fit/classes 2-d", lambda c: _clf_with(c).partial_fit(c.X, c.y, classes=[[0, 1]]), ValueError, r"classes must be 1-d .* shape \(1, 2\)"),
    ("clf.partial_fit/one class", lambda c: _clf_with(c).partial_fit(c.X, c.y, classes=[0]), ValueError, r"at least 2 distinct labels, got \[0\]"),
    ("clf.set_params/unknown", lambda c: c.clf.set_params(hidden=3), ValueError, "Invalid parameter 'hidden'"),

    # -- Vocabulary ----------------------------------------------------------------------
    ("vocab/tokens str", lambda c: Vocabulary("abc"), TypeError, "not a single str"),
    ("vocab/token int", lambda c: Vocabulary(["<UNK>", 3]), TypeError, "token at index 1 is int"),
    ("vocab/token empty", lambda c: Vocabulary(["<UNK>", ""]), ValueError, "token at index 1 is the empty string"),
    ("vocab/no unk", lambda c: Vocabulary(["a"]), ValueError, "unk_token '<UNK>' is not among the tokens"),
    ("vocab/level", lambda c: Vocabulary(["<UNK>"], level="byte"), ValueError, "level must be 'char' or 'word', got 'byte'"),
    ("vocab.from_text/min_freq=0", lambda c: Vocabulary.from_text("ab", min_freq=0), ValueError, "min_freq must be >= 1, got 0"),
    ("vocab.from_text/min_freq=1.5", lambda c: Vocabulary.from_text("ab", min_freq=1.5), TypeError, "min_freq must be an int, got float"),
    ("vocab.from_text/specials str", lambda c: Vocabulary.from_text("ab", specials="<PAD>"), TypeError, "specials must be a sequence of str"),
    ("vocab.encode/int", lambda c: c.vocab.encode(3), TypeError, "text must be a str, got int"),
    ("vocab.encode/bytes", lambda c: c.vocab.encode(b"ab"), TypeError, "text must be a str, got bytes"),
    ("vocab.encode/ids", lambda c: c.vocab.encode(c.own(np.array([1, 2]))), TypeError, "text must be a str, got ndarray"),
    ("vocab.decode/id V", lambda c: c.vocab.decode(c.own(np.array([0, c.V]))), IndexError, r"id {V} at position 1 is out of range \[0, {V}\)"),
    ("vocab.decode/id -1", lambda c: c.vocab.decode([0, 1, -1]), IndexError, r"id -1 at position 2 is out of range"),
    ("vocab.decode/uint64 max", lambda c: c.vocab.decode(c.own(_u64(2**64 - 1))), IndexError, "id 18446744073709551615 at position 0"),
    ("vocab.decode/float", lambda c: c.vocab.decode(c.own(np.array([1.0]))), TypeError, "decode ids must have an integer dtype, got float64"),
    ("vocab.decode/bool", lambda c: c.vocab.decode([True]), TypeError, "decode ids must have an integer dtype, got bool"),
    ("vocab.decode/2-d", lambda c: c.vocab.decode(c.own(np.zeros((2, 2), int))), ValueError, r"decode expects 0-d or 1-d ids, got shape \(2, 2\)"),
    ("vocab.decode/ragged", lambda c: c.vocab.decode([[0], [1, 2]]), TypeError, "decode ids could not be converted"),
    ("vocab.decode/None", lambda c: c.vocab.decode(None), TypeError, "decode ids must be integers, got an object array"),
    ("vocab.one_hot/id V", lambda c: c.vocab.one_hot(c.own(np.array([[0], [c.V]]))), IndexError, r"id {V} at position \(1, 0\)"),
    ("vocab.id_to_token/-1", lambda c: c.vocab.id_to_token(-1), IndexError, r"id -1 is out of range"),
    ("vocab.id_to_token/1.5", lambda c: c.vocab.id_to_token(1.5), TypeError, "id must be an integer, got float"),
    ("vocab.token_to_id/int", lambda c: c.vocab.token_to_id(3), TypeError, "token must be a str, got int"),
    ("vocab.tokenize/bytes", lambda c: c.vocab.tokenize(b"ab"), TypeError, "text must be a str, got bytes"),
    ("vocab.save/no directory", lambda c: c.vocab.save(c.tmp / "nodir" / "v.json"), FileNotFoundError, r"cannot write '.*nodir/v\.json': directory .* does not exist"),
    ("vocab.save/lone surrogate", lambda c: Vocabulary(["<UNK>", "\ud800"]).save(c.tmp / "v.json"), ValueError, "cannot save token 1"),
    ("vocab.load/missing", lambda c: Vocabulary.load(c.tmp / "v.json"), FileNotFoundError, r"v\.json"),
    ("vocab.load/not json", lambda c: Vocabulary.load(c.write("v.json", b"{")), ValueError, r"v\.json' is not a valid vocabulary file: invalid or truncated JSON"),
    ("vocab.load/not utf-8", lambda c: Vocabulary.load(c.write("v.json", b"\xff\xfe\x00")), ValueError, r"v\.json' is not a valid vocabulary file: invalid UTF-8"),

    # -- optimizers: step with mismatched params and grads ---------------------------------
    ("opt.step/missing grad", lambda c: c.opt.step({"w": c.own(np.zeros(3))}), ValueError, "grads is missing the gradient of parameter 'b'"),
    ("opt.step/shape", lambda c: c.opt.step({"w": c.own(np.zeros(4)), "b": c.own(np.zeros((2, 2), np.float32))}), ValueError, r"gradient 'w' has shape \(4,\), expected \(3,\)"),
    ("opt.step/transposed", lambda c: c.opt.step({"w": c.own(np.zeros((3, 1))), "b": c.own(np.zeros((2, 2), np.float32))}), ValueError, r"gradient 'w' has shape \(3, 1\)"),
    ("opt.step/dtype", lambda c: c.opt.step({"w": c.own(np.zeros(3)), "b": c.own(np.zeros((2, 2)))}), TypeError, "gradient 'b' has dtype float64, expected float32"),
    ("opt.step/complex", lambda c: c.opt.step({"w": c.own(np.zeros(3, complex)), "b": c.own(np.zeros((2, 2), np.float32))}), TypeError, "gradient 'w' has dtype complex128"),
    ("opt.step/list", lambda c: c.opt.step({"w": [0.0, 0.0, 0.0], "b": c.own(np.zeros((2, 2), np.float32))}), TypeError, "gradient 'w' must be a numpy.ndarray, got list"),
    ("opt.step/None", lambda c: c.opt.step(None), TypeError, "grads must be a mapping .* got NoneType"),
    ("opt/params empty", lambda c: optim.SGD({}), ValueError, "params must not be empty"),
    ("opt/params int", lambda c: optim.SGD({"w": c.own(np.zeros(3, int))}), TypeError, "parameter 'w' must have a floating dtype, got int64"),
    ("opt/params read-only", lambda c: optim.Adam({"w": _ro([1.0])}), ValueError, "parameter 'w' is read-only"),
    ("opt/params list", lambda c: optim.Adagrad({"w": [1.0]}), TypeError, "parameter 'w' must be a numpy.ndarray, got list"),
    ("opt/lr=0", lambda c: optim.make_optimizer("sgd", c.opt_params, lr=0), ValueError, "lr must be a positive finite number, got 0"),
    ("opt/momentum=1", lambda c: optim.SGD(c.opt_params, momentum=1.0), ValueError, r"momentum must be in \[0, 1\), got 1.0"),
    ("opt/betas", lambda c: optim.Adam(c.opt_params, betas=(0.9, 1.5)), ValueError, r"betas\[1\] must be in \[0, 1\), got 1.5"),
    ("opt/name", lambda c: optim.make_optimizer("rmsprop", c.opt_params), ValueError, "unknown optimizer 'rmsprop'"),
    ("opt.lr=-1", lambda c: setattr(c.opt, "lr", -1), ValueError, "lr must be a positive finite number, got -1"),
    ("opt.load_state_dict/missing", lambda c: c.opt.load_state_dict({"step": np.array(1)}), ValueError, "state is missing key"),
    ("clip_by_value/clip=-1", lambda c: optim.clip_by_value({"w": c.own(np.ones(3))}, -1), ValueError, "clip must be a positive finite number, got -1"),
    ("clip_by_global_norm/max_norm=nan", lambda c: optim.clip_by_global_norm({"w": c.own(np.ones(3))}, math.nan), ValueError, "max_norm must be a positive finite number, got nan"),
    ("clip_by_global_norm/int grad", lambda c: optim.clip_by_global_norm({"w": c.own(np.ones(3, int))}, 1.0), TypeError, "gradient 'w' must have a floating dtype, got int64"),

    # -- data -------------------------------------------------------------------------------
    ("TBPTT/batch_size=0", lambda c: TBPTTBatches(c.own(np.arange(10)), 0, 2), ValueError, "batch_size must be >= 1, got 0"),
    ("TBPTT/seq_len=1.5", lambda c: TBPTTBatches(c.own(np.arange(10)), 2, 1.5), TypeError, "seq_len must be an integer, got 1.5"),
    ("TBPTT/too short", lambda c: TBPTTBatches(c.own(np.arange(3)), 5, 2), ValueError, "ids has 3 tokens; at least batch_size \\+ 1 = 6"),
    ("TBPTT/float ids", lambda c: TBPTTBatches(c.own(np.zeros(10)), 2, 2), TypeError, "ids must be integer token ids, got dtype float64"),
    ("TBPTT/negative id", lambda c: TBPTTBatches(c.own(np.array([0, 1, -4, 2])), 1, 2), IndexError, r"ids has a negative id -4 at \[2\]"),
    ("TBPTT/uint64 max", lambda c: TBPTTBatches(c.own(_u64(0, 1, 2**64 - 1)), 1, 2), IndexError, r"ids has token id 18446744073709551615 at \[2\]"),
    ("TBPTT/drop_last='x'", lambda c: TBPTTBatches(c.own(np.arange(10)), 2, 2, drop_last="x"), TypeError, "drop_last must be a bool, got 'x'"),
    ("TBPTT/drop_last no window", lambda c: TBPTTBatches(c.own(np.arange(5)), 2, 3, drop_last=True), ValueError, "fewer than seq_len=3"),
    ("TBPTT[99]", lambda c: TBPTTBatches(np.arange(10), 2, 2)[99], IndexError, r"window index out of range \[0, 2\)"),
    ("TBPTT[True]", lambda c: TBPTTBatches(np.arange(10), 2, 2)[True], TypeError, "window index must be an integer, got True"),
    ("TBPTT[1.0]", lambda c: TBPTTBatches(np.arange(10), 2, 2)[1.0], TypeError, "window index must be an integer, got 1.0"),
    ("split_ids/1.0", lambda c: split_ids(c.own(np.arange(10)), 1.0), ValueError, r"val_fraction must be in \[0, 1\), got 1.0"),
    ("split_ids/'0.1'", lambda c: split_ids(c.own(np.arange(10)), "0.1"), TypeError, "val_fraction must be a number, got '0.1'"),
    ("split_ids/too short", lambda c: split_ids([0, 1, 2], 0.5), ValueError, "fewer than 2 would be left"),
    ("as_ids/ragged", lambda c: as_ids([[0, 1], [2]], "ids"), TypeError, "ids could not be converted"),

    # -- checkpoints ------------------------------------------------------------------------
    ("save_checkpoint/params None", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", None, c.vocab), TypeError, "params must be a dict of arrays, got NoneType"),
    ("save_checkpoint/params missing", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", {"Wax": c.params["Wax"]}, c.vocab), ValueError, r"params is missing \['Waa', 'ba', 'Wya', 'by'\]"),
    ("save_checkpoint/Waa shape", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", {**c.params, "Waa": c.own(np.zeros((3, 3), np.float32))}, c.vocab), ValueError, r"params\['Waa'\] has shape \(3, 3\); expected \(4, 4\)"),
    ("save_checkpoint/mixed dtypes", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", {**c.params, "ba": c.own(np.zeros(4))}, c.vocab), TypeError, r"params\['ba'\] has dtype float64 but params\['Wax'\] has float32"),
    ("save_checkpoint/vocab size", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", fastrnn.init_params(3, 4), c.vocab), ValueError, "input size I=3 and output size O=3, but the vocabulary has {V} tokens"),
    ("save_checkpoint/object param", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", {**c.params, "ba": c.own(np.array([None] * 4))}, c.vocab), TypeError, r"params\['ba'\] has dtype object"),
    ("save_checkpoint/step=-1", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", c.params, c.vocab, step=-1), ValueError, "step must be >= 0, got -1"),
    ("save_checkpoint/step=1.5", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", c.params, c.vocab, step=1.5), TypeError, "step must be an integer, got 1.5"),
    ("save_checkpoint/a0 shape", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", c.params, c.vocab, a0=c.own(np.zeros(7, np.float32))), ValueError, r"a0 has shape \(7,\) dtype float32; expected \(4,\) float32"),
    ("save_checkpoint/vocab", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", c.params, "abc"), TypeError, "vocab must be a Vocabulary, got str"),
    ("save_checkpoint/hyperparams", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", c.params, c.vocab, hyperparams={"f": open}), TypeError, "hyperparams must be JSON-serializable"),
    ("save_checkpoint/optimizer_state object", lambda c: checkpoint.save_checkpoint(c.tmp / "c.npz", c.params, c.vocab, optimizer_state={"m": np.array([{}])}), TypeError, r"optimizer_state\['m'\] has dtype object"),
    ("load_checkpoint/None", lambda c: checkpoint.load_checkpoint(None), TypeError, "NoneType"),
    ("load_checkpoint/foreign npz", lambda c: checkpoint.load_checkpoint(c.npz("f.npz", W=np.zeros(3))), ValueError, r"f\.npz' is not a fastrnn checkpoint"),
    ("load_checkpoint/npy", lambda c: checkpoint.load_checkpoint(c.npy("a.npz", np.zeros(3))), ValueError, r"a\.npz' is not a valid fastrnn checkpoint: it is a single NumPy array"),

    # -- interop ----------------------------------------------------------------------------
    ("to_torch/None", lambda c: interop.to_torch_state_dict(None), TypeError, "params must be a dict of arrays, got NoneType"),
    ("to_torch/missing", lambda c: interop.to_torch_state_dict({"Wax": c.params["Wax"]}), ValueError, r"params is missing \['Waa', 'ba', 'Wya', 'by'\]"),
    ("to_torch/mixed dtypes", lambda c: interop.to_torch_state_dict({**c.params, "Waa": c.own(c.params["Waa"].astype(np.float64))}), TypeError, r"params\['Waa'\] has dtype float64 but params\['Wax'\] has float32"),
    ("to_keras/shape", lambda c: interop.to_keras_weights({**c.params, "by": c.own(np.zeros(2, np.float32))}), ValueError, r"params\['by'\] has shape \(2,\)"),
    ("to_keras/float16", lambda c: interop.to_keras_weights({k: c.own(v.astype(np.float16)) for k, v in c.params.items()}), TypeError, r"params\['Wax'\] has dtype float16"),
    ("from_torch/None", lambda c: interop.from_torch_state_dict(None), TypeError, "must be a dict of arrays, got NoneType"),
    ("from_torch/missing", lambda c: interop.from_torch_state_dict({"weight": c.own(np.zeros((2, 2)))}), ValueError, "missing .*weight_ih_l0"),
    ("from_torch/int", lambda c: interop.from_torch_state_dict({**interop.to_torch_state_dict(c.params), "bias": c.own(np.zeros(c.V, int))}), TypeError, r"state_dict\['bias'\] has dtype int64; expected float32 or float64"),
    ("from_torch/extra layer", lambda c: interop.from_torch_state_dict({**interop.to_torch_state_dict(c.params), "weight_ih_l1": c.own(np.zeros((4, 4), np.float32))}), ValueError, r"unexpected keys \['weight_ih_l1'\]"),
    ("from_keras/shape", lambda c: interop.from_keras_weights({**interop.to_keras_weights(c.params), "recurrent_kernel": c.own(np.zeros((4, 5), np.float32))}), ValueError, r"weights\['recurrent_kernel'\] has shape \(4, 5\); expected \(4, 4\)"),
    ("from_keras/None", lambda c: interop.from_keras_weights(None), ValueError, "give weights .* or both rnn= .* and dense="),
]

# the case ids double as documentation: keep them unique
assert len({case[0] for case in CASES}) == len(CASES)


def _write(self, name, data):
    path = self.tmp / name
    path.write_bytes(data)
    self.created.append(name)
    return path


def _npz(self, name, **arrays):
    path = self.tmp / name
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    self.created.append(name)
    return path


def _npy(self, name, array):
    path = self.tmp / name
    with open(path, "wb") as f:
        np.save(f, array)
    self.created.append(name)
    return path


Ctx.write, Ctx.npz, Ctx.npy = _write, _npz, _npy


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[case[0] for case in CASES])
def test_bad_input(trained, tmp_path, name, call, exc, match):
    c = Ctx(trained, tmp_path)
    lm_before, clf_before = _lm_state(c.lm), _clf_state(c.clf)
    opt_before = ({k: v.copy() for k, v in c.opt_params.items()}, c.opt.state_dict())
    files_before = sorted(os.listdir(tmp_path))
    match = match.replace("{V}", str(c.V)).replace("{V1}", str(c.V + 1))
    with pytest.raises(exc, match=match):
        call(c)
    # nothing the caller owns changed, and a failed call wrote no file
    c.check_owned()
    _assert_same(_lm_state(c.lm), lm_before, "LanguageModel state")
    _assert_same(_clf_state(c.clf), clf_before, "SequenceClassifier state")
    _assert_same(({k: v.copy() for k, v in c.opt_params.items()}, c.opt.state_dict()),
                 opt_before, "optimizer state")
    assert sorted(set(os.listdir(tmp_path)) - set(c.created)) == files_before


def test_every_public_method_has_a_case():
    """A new public method of a model class must get a bad-input case here."""
    covered = " ".join(case[0] for case in CASES)
    wanted = {
        LanguageModel: ("fit", "loss", "perplexity", "sample", "hidden_states", "save", "load",
                        "from_text"),
        SequenceClassifier: ("fit", "partial_fit", "predict", "predict_proba", "score",
                             "set_params"),
        Vocabulary: ("encode", "decode", "one_hot", "id_to_token", "token_to_id", "tokenize",
                     "save", "load", "from_text"),
    }
    prefix = {LanguageModel: "", SequenceClassifier: "clf.", Vocabulary: "vocab."}
    for cls, methods in wanted.items():
        public = {n for n in vars(cls) if not n.startswith("_") and callable(getattr(cls, n))}
        # accessors without arguments have nothing to get wrong
        public -= {"get_config", "get_params", "to_dict"}
        assert public <= set(methods), (cls.__name__, public - set(methods))
        for m in methods:
            assert f"{prefix[cls]}{m}/" in covered or f"{prefix[cls]}{m}[" in covered, \
                (cls.__name__, m)


def test_layouts_give_the_same_answers(trained):
    """Strided, Fortran-order, read-only and list inputs equal contiguous ones."""
    lm, clf, X, y = trained
    ids = lm.vocab.encode(TEXT[:200])
    strided = np.repeat(ids, 2)[::2]
    assert not strided.flags.c_contiguous
    want = lm.loss(ids)
    assert lm.loss(strided) == want
    assert lm.loss(_ro(ids)) == want
    assert lm.loss(ids.tolist()) == want
    assert lm.loss(ids.astype(np.uint16)) == want
    A = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    want = clf.predict_proba(A)
    np.testing.assert_array_equal(clf.predict_proba(np.asfortranarray(A)), want)
    np.testing.assert_array_equal(clf.predict_proba(_ro(A)), want)
    np.testing.assert_array_equal(clf.predict_proba(A.tolist()), want)
    np.testing.assert_array_equal(clf.predict_proba(np.repeat(A, 2, axis=1)[:, ::2]), want)
    np.testing.assert_array_equal(clf.predict_proba(A.astype(np.uint8)), want)


# ---------------------------------------------------------------------------
# the fastrnn command: every flag, bad values -> one line naming it, exit 2
# ---------------------------------------------------------------------------
CORPUS = ("It was the best of times, it was the worst of times, it was the age of "
          "wisdom.\n") * 15


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    corpus = d / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    model = d / "model.npz"
    assert main(["train", str(corpus), "--hidden", "6", "--seq-len", "8", "--batch-size", "2",
                 "--steps", "2", "--sample-every", "0", "--sample-length", "5",
                 "--no-progress", "--out", str(model)]) == 0
    (d / "dir").mkdir()
    return {"d": str(d), "corpus": str(corpus), "model": str(model)}


T = ["train", "{corpus}", "--no-progress", "--out", "{d}/out.npz"]
S = ["sample", "{model}"]
CLI_CASES = [
    # train: every option with a bad value
    (T + ["--hidden", "-3"], "argument --hidden: must be a positive integer, got '-3'"),
    (T + ["--hidden", "3000000000"], "argument --hidden: hidden_size = 3000000000 exceeds"),
    (T + ["--hidden", "1" + "0" * 30], "argument --hidden: .*exceeds"),
    (T + ["--hidden", "1.5"], "argument --hidden: expected a positive integer, got '1.5'"),
    (T + ["--max-vocab", "0"], "argument --max-vocab: must be a positive integer, got '0'"),
    (T + ["--max-vocab", "x"], "argument --max-vocab: expected a positive integer, got 'x'"),
    (T + ["--seq-len", "-1"], "argument --seq-len: must be a positive integer, got '-1'"),
    (T + ["--seq-len", ""], "argument --seq-len: expected a positive integer, got ''"),
    (T + ["--batch-size", "abc"], "argument --batch-size: expected a positive integer, got 'abc'"),
    (T + ["--batch-size", "0"], "argument --batch-size: must be a positive integer, got '0'"),
    (T + ["--batch-size", "99999999999"], "too short.*--batch-size 99999999999"),
    (T + ["--steps", "1e3"], "argument --steps: expected a positive integer, got '1e3'"),
    (T + ["--lr", "0"], "argument --lr: must be a positive number, got '0'"),
    (T + ["--lr", "1e400"], "argument --lr: must be a finite number, got '1e400'"),
    (T + ["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
    (T + ["--optimizer", "ADAM"], "argument --optimizer: invalid choice: 'ADAM'"),
    (T + ["--clip", "inf"], "argument --clip: must be a finite number, got 'inf'"),
    (T + ["--clip", "x"], "argument --clip: expected a number, got 'x'"),
    (T + ["--clip-mode", "l2"], "argument --clip-mode: invalid choice: 'l2'"),
    (T + ["--val-fraction", "-0.1"], r"argument --val-fraction: must be in \[0, 1\), got '-0.1'"),
    (T + ["--val-fraction", "abc"], "argument --val-fraction: expected a number, got 'abc'"),
    (T + ["--seed", "-1"], "argument --seed: must be >= 0, got '-1'"),
    (T + ["--seed", "abc"], "argument --seed: expected an integer >= 0, got 'abc'"),
    (T + ["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    (T + ["--init-state", "ones"], "argument --init-state: invalid choice: 'ones'"),
    (T + ["--level", "byte"], "argument --level: invalid choice: 'byte'"),
    (T + ["--eval-every", "0"], "argument --eval-every: must be a positive integer, got '0'"),
    (T + ["--sample-every", "-1"], "argument --sample-every: must be >= 0, got '-1'"),
    (T + ["--sample-every", "x"], "argument --sample-every: expected an integer >= 0, got 'x'"),
    (T + ["--sample-length", "0"], "argument --sample-length: must be a positive integer, got '0'"),
    (T + ["--temperature", "nan"], "argument --temperature: must be a finite number, got 'nan'"),
    (T + ["--temperature", "-1"], "argument --temperature: must be a positive number, got '-1'"),
    (T + ["--plot", "{d}/nodir/loss.png"], r"cannot write plot '.*nodir/loss\.png': directory .* does not exist"),
    (T + ["--plot", "{d}/dir"], "plot '.*dir' is a directory"),
    (["train", "{corpus}", "--no-progress", "--out", "{d}/dir"], "model '.*dir' is a directory"),
    (["train", "{corpus}", "--no-progress", "--out", "{d}/nodir/m.npz"], "cannot write model .*does not exist"),
    (T + ["--resume", "{corpus}"], r"corpus\.txt' is not a valid fastrnn checkpoint"),
    (T + ["--resume", "{d}/missing.npz"], r"cannot read model '.*missing\.npz': no such file"),
    (T + ["--resume", "{model}", "--dtype", "float64"], "--dtype float64 conflicts with the resumed model"),
    (T + ["--resume", "{model}", "--init-state", "learned"], "--init-state learned conflicts"),
    (T + ["--steps"], "argument --steps: expected one argument"),
    (["train", "{corpus}", "{corpus}"], "unrecognized arguments"),
    (["train", "-", "--no-progress"], "corpus '-' is empty"),
    # sample
    (S + ["--length", "0"], "argument --length: must be a positive integer, got '0'"),
    (S + ["--length", "abc"], "argument --length: expected a positive integer, got 'abc'"),
    (S + ["--length", "99999999999999"], "argument --length: not enough memory for 99999999999999"),
    (S + ["--temperature", "inf"], "argument --temperature: must be a finite number, got 'inf'"),
    (S + ["--temperature", "x"], "argument --temperature: expected a number, got 'x'"),
    (S + ["--top-k", "abc"], "argument --top-k: expected a positive integer, got 'abc'"),
    (S + ["--seed", "-1"], "argument --seed: must be >= 0, got '-1'"),
    (S + ["--seed", "1.5"], "argument --seed: expected an integer >= 0, got '1.5'"),
    (S + ["--stop", ""], "argument --stop: '' is not a token"),
    (S + ["--prime"], "argument --prime: expected one argument"),
    (["sample", "{corpus}"], r"corpus\.txt' is not a valid fastrnn checkpoint"),
    (["sample", "{d}/dir"], "is a directory"),
    (["sample", "{model}", "{model}"], "unrecognized arguments"),
    # bench
    (["bench", "--repeats", "0"], "argument --repeats: must be a positive integer, got '0'"),
    (["bench", "--repeats", "abc"], "argument --repeats: expected a positive integer, got 'abc'"),
    (["bench", "--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    (["bench", "--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("argv,match", CLI_CASES, ids=[" ".join(a[0:1] + a[-2:]) for a, _ in CLI_CASES])
def test_cli_bad_flag(capsys, monkeypatch, cli_files, argv, match):
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    before = os.path.getmtime(cli_files["model"])
    code = main([a.format(**cli_files) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.startswith("fastrnn: error: ") and err.count("\n") == 1, err
    assert re.search(match, err), err
    assert os.path.getmtime(cli_files["model"]) == before  # nothing was saved over it
    assert not os.path.exists(os.path.join(cli_files["d"], "out.npz"))


@pytest.mark.parametrize("command", ["sample", "resume"])
def test_cli_unreadable_checkpoint(capsys, monkeypatch, cli_files, command):
    """A checkpoint the process may not read (simulated: the tests may run as root)."""
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", cli_files["model"])
    monkeypatch.setattr(np, "load", denied)
    argv = (["sample", cli_files["model"]] if command == "sample" else
            ["train", cli_files["corpus"], "--resume", cli_files["model"], "--no-progress",
             "--out", os.path.join(cli_files["d"], "out.npz")])
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(r"cannot read model '.*model\.npz': Permission denied", err), err


def test_cli_unreadable_corpus(capsys, monkeypatch, cli_files):
    from fastrnn import cli

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(cli, "open", denied, raising=False)
    code = main(["train", cli_files["corpus"], "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert re.search(r"cannot read corpus '.*corpus\.txt': Permission denied", err), err
