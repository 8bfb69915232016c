"""SequenceClassifier: learning, scikit-learn conventions, padding, bad inputs."""
import itertools
import pickle
import re

import numpy as np
import pytest

import fastrnn
from fastrnn.classifier import NotFittedError, SequenceClassifier
from fastrnn.vocab import Vocabulary


def first_token_data(n, rng, n_symbols=4, lengths=(5, 15)):
    """Random sequences; the label is the first symbol (needs memory of ~T steps)."""
    X = [rng.integers(0, n_symbols, size=L) for L in rng.integers(lengths[0], lengths[1] + 1, size=n)]
    return X, np.array([int(s[0]) for s in X])


def small_problem(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return first_token_data(n, rng, n_symbols=3, lengths=(1, 6))


def fitted(seed=0, **kwargs):
    X, y = small_problem()
    kwargs = {"hidden_size": 8, "epochs": 3, "seed": seed, **kwargs}
    return SequenceClassifier(**kwargs).fit(X, y), X, y


# ---------------------------------------------------------------------------
# learning tasks that need memory
# ---------------------------------------------------------------------------
def test_learns_first_token_of_long_sequences():
    # The label is decided at step 1 and read at step 5..15: a model without
    # memory scores ~0.25.  (~2 s; 90% of seeds converge with these settings,
    # the plateaus of a tanh RNN under PyTorch-style init are the rest.)
    rng = np.random.default_rng(3)
    X_train, y_train = first_token_data(2000, rng)
    X_test, y_test = first_token_data(500, rng)
    clf = SequenceClassifier(hidden_size=32, lr=3e-3, batch_size=16, epochs=25, seed=3)
    assert clf.fit(X_train, y_train) is clf
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.n_iter_ == 25 and len(clf.loss_curve_) == 25
    # the first epoch's mean loss starts at chance, log(4) = 1.39, and falls
    # during the epoch (to ~1.25: where exactly depends on the last bits of the
    # arithmetic); the last is more than ten times lower
    assert clf.loss_curve_[-1] < 0.1 and clf.loss_curve_[0] > 10 * clf.loss_curve_[-1]
    assert clf.loss_curve_[0] < np.log(4) + 0.1
    assert clf.t_ == 25 * 125  # 2000 / 16 steps per epoch


def test_learns_parity_on_held_out_sequences():
    # Every binary sequence of length 2..6 (124 of them); 31 are never seen in
    # training, so a high score needs the parity rule, not a lookup table.
    rng = np.random.default_rng(0)
    seqs = [np.array(s) for L in range(2, 7) for s in itertools.product((0, 1), repeat=L)]
    perm = rng.permutation(len(seqs))
    test = [seqs[i] for i in perm[:31]]
    train = [seqs[i] for i in perm[31:]] * 10
    parity = lambda xs: np.array([int(s.sum()) % 2 for s in xs])  # noqa: E731
    clf = SequenceClassifier(hidden_size=16, lr=1e-2, batch_size=16, epochs=40, seed=0)
    clf.fit(train, parity(train))
    assert clf.score(train, parity(train)) == 1.0
    assert clf.score(test, parity(test)) >= 0.95


# ---------------------------------------------------------------------------
# labels, probabilities, fitted attributes
# ---------------------------------------------------------------------------
def test_string_labels_come_back_from_classes_():
    X, y = small_problem()
    names = np.array(["zero", "one", "two"])
    clf = SequenceClassifier(hidden_size=8, epochs=30, seed=0).fit(X, names[y])
    assert clf.classes_.tolist() == ["one", "two", "zero"]  # sorted, like np.unique
    pred = clf.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert clf.score(X, names[y]) >= 0.95
    assert clf.params_["Wya"].shape == (3, 8) and clf.params_["by"].shape == (3,)


def test_non_contiguous_int_labels():
    X, y = small_problem()
    labels = np.array([10, -3, 7])[y]
    clf = SequenceClassifier(hidden_size=8, epochs=30, seed=0).fit(X, list(labels))
    assert clf.classes_.tolist() == [-3, 7, 10]
    assert set(clf.predict(X).tolist()) <= {-3, 7, 10}
    assert clf.score(X, labels) >= 0.95


MIXED = [
    ([1, "a", 1, "a"], r"y has labels of mixed types: 1 at \[0\] is a number and 'a' at \[1\] a string"),
    (np.array(["a", 2.5, "a", 2.5], dtype=object), r"'a' at \[0\] is a string and 2.5 at \[1\] a number"),
    ([True, True, "x", "x"], r"True at \[0\] is a number and 'x' at \[2\] a string"),
    (["a", b"b", "a", b"b"], r"'a' at \[0\] is a string and b'b' at \[1\] a bytes object"),
]


@pytest.mark.parametrize("y, match", MIXED, ids=["int-str", "object-str-float", "bool-str", "str-bytes"])
def test_labels_of_mixed_types_are_refused(y, match):
    # NumPy makes [1, "a"] the strings ['1', 'a']: predict would return '1' for 1
    X = [[0, 1], [1, 0], [0, 0], [1, 1]]
    clf = SequenceClassifier(hidden_size=4, epochs=1)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "params_")
    with pytest.raises(ValueError, match=match.replace("y has", "classes has")):
        clf.partial_fit(X, [0, 1, 0, 1], classes=y)
    fitted_clf = SequenceClassifier(hidden_size=4, epochs=1).fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=match):
        fitted_clf.score(X, y)


def test_labels_differing_by_a_trailing_nul():
    # NumPy's fixed-width strings drop trailing NULs: "a\x00" would be the class "a"
    X, y = small_problem()
    names = ["a", "a\x00", "b"]
    labels = [names[i] for i in y]
    at = labels.index("a\x00")
    nul_label = re.escape(f"has the label {names[1]!r} at [{at}], which ends in a NUL character")
    clf = SequenceClassifier(hidden_size=8, epochs=30, seed=0)
    with pytest.raises(ValueError, match=f"y {nul_label}.*would become 'a'.*object array"):
        clf.fit(X, labels)
    with pytest.raises(ValueError, match=re.escape("classes has the label 'a\\x00' at [1]")):
        clf.partial_fit(X[:1], ["a"], classes=names)
    with pytest.raises(ValueError, match=re.escape("y has the label b'a\\x00'")):
        clf.fit(X, [name.encode() for name in labels])
    assert not hasattr(clf, "params_")
    # an object array keeps the labels as given: three classes, predicted as given
    clf.fit(X, np.array(labels, dtype=object))
    assert clf.classes_.tolist() == sorted(names)
    assert set(clf.predict(X).tolist()) <= set(names)
    assert clf.score(X, np.array(labels, dtype=object)) >= 0.95
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    assert again.classes_.tolist() == sorted(names)


def test_nan_and_nat_labels_are_refused_in_any_array():
    # a NaN (or NaT) label is never equal to itself: each one was a class of
    # its own, and score could not count it; float arrays were refused
    # already, object and datetime arrays were not
    X, y = small_problem()
    clf = SequenceClassifier(hidden_size=8, epochs=2, seed=0)
    obj = np.array([[1.0, float("nan"), 2.0][i] for i in y], dtype=object)
    at = int(np.flatnonzero(y == 1)[0])
    with pytest.raises(ValueError, match=re.escape(f"y has the label nan at [{at}]")):
        clf.fit(X, obj)
    days = np.array(["2026-01-01", "NaT", "2026-01-03"], dtype="datetime64[D]")[y]
    with pytest.raises(ValueError, match=re.escape(f"y has the label {days[at]!r} at [{at}]")):
        clf.fit(X, days)
    assert not hasattr(clf, "params_")
    # without them both kinds of labels train and score
    clf.fit(X, np.array([[1.0, 3.0, 2.0][i] for i in y], dtype=object))
    assert clf.score(X, np.array([[1.0, 3.0, 2.0][i] for i in y], dtype=object)) > 0
    ok = np.array(["2026-01-01", "2026-01-02", "2026-01-03"], dtype="datetime64[D]")[y]
    clf.fit(X, ok)
    assert clf.predict(X).dtype == ok.dtype


def test_labels_numpy_cannot_make_an_array_of_are_named():
    X, y = small_problem()
    clf = SequenceClassifier(hidden_size=8, epochs=2, seed=0)
    labels = ["a" if i else (1, 2) for i in y]
    with pytest.raises(ValueError, match="y could not be made an array of labels"):
        clf.fit(X, labels)
    with pytest.raises(ValueError, match="classes could not be made an array of labels"):
        clf.partial_fit(X[:2], ["a", "a"], classes=["a", (1, 2)])


def test_predict_proba_rows_sum_to_one_and_argmax_is_predict():
    clf, X, _ = fitted()
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-5)
    assert (proba >= 0).all()
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_fitted_attributes():
    clf, X, _ = fitted()
    assert clf.input_size_ == 3  # max id + 1
    assert clf.vocab_ is None
    assert sorted(clf.params_) == ["Waa", "Wax", "Wya", "ba", "by"]
    assert clf.params_["Wax"].shape == (8, 3)
    np.testing.assert_array_equal(clf.a0_, np.zeros(8, np.float32))
    assert all(isinstance(v, float) for v in clf.loss_curve_)
    # params_ is the public contract's format: forward accepts it as is
    probs, _ = fastrnn.forward(clf.params_, np.asarray([X[0]]))
    np.testing.assert_allclose(probs[0, -1], clf.predict_proba([X[0]])[0], atol=1e-6)


def test_input_size_argument_allows_unseen_ids():
    X, y = small_problem()
    clf = SequenceClassifier(hidden_size=8, epochs=1, input_size=10, seed=0).fit(X, y)
    assert clf.input_size_ == 10 and clf.params_["Wax"].shape == (8, 10)
    assert clf.predict_proba([[9, 0, 9]]).shape == (1, 3)


def test_float64():
    clf, X, _ = fitted(dtype=np.float64)
    assert all(p.dtype == np.float64 for p in clf.params_.values())
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_refit_starts_over():
    clf, X, y = fitted()
    first = {k: v.copy() for k, v in clf.params_.items()}
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 3 and clf.n_iter_ == 3
    for k in first:
        np.testing.assert_array_equal(clf.params_[k], first[k])


def test_learned_init_state_is_trained_and_used():
    clf, X, _ = fitted(init_state="learned", epochs=5)
    assert clf.a0_.shape == (8,) and np.abs(clf.a0_).max() > 1e-4
    assert "a0" not in clf.params_
    probs, _ = fastrnn.forward(clf.params_, np.asarray([X[1]]), a0=clf.a0_)
    np.testing.assert_allclose(clf.predict_proba([X[1]])[0], probs[0, -1], atol=1e-6)
    without, _ = fastrnn.forward(clf.params_, np.asarray([X[1]]))
    assert not np.allclose(without[0, -1], probs[0, -1], atol=1e-6)


def test_random_init_state_is_fixed_and_used():
    clf, X, _ = fitted(init_state="random", epochs=3)
    a0 = clf.a0_.copy()
    assert a0.shape == (8,) and np.abs(a0).max() > 0.1 and np.abs(a0).max() <= 1
    probs, _ = fastrnn.forward(clf.params_, np.asarray([X[1]]), a0=a0)
    np.testing.assert_allclose(clf.predict_proba([X[1]])[0], probs[0, -1], atol=1e-6)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(clf.a0_, a0)  # not trained
    again, _, _ = fitted(init_state="random", epochs=3)
    np.testing.assert_array_equal(again.a0_, a0)  # seeded


def test_clip_none_and_other_optimizers_train():
    X, y = small_problem()
    for opt, lr in (("sgd", 0.5), ("adagrad", 0.1), ("ADAM", 1e-2)):
        clf = SequenceClassifier(hidden_size=8, epochs=15, seed=0, optimizer=opt, lr=lr,
                                 clip=None).fit(X, y)
        assert clf.loss_curve_[-1] < clf.loss_curve_[0], opt


def test_verbose_prints_each_epoch(capsys):
    fitted(verbose=True, epochs=2)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].startswith("Epoch 2, loss = ")


def test_repr_shows_non_default_parameters():
    assert repr(SequenceClassifier()) == "SequenceClassifier()"
    assert repr(SequenceClassifier(16, lr=0.1)) == "SequenceClassifier(hidden_size=16, lr=0.1)"


# ---------------------------------------------------------------------------
# scikit-learn parameter protocol
# ---------------------------------------------------------------------------
def test_constructor_only_stores_arguments():
    clf = SequenceClassifier(hidden_size=-5, optimizer="nope", init_state="noise",
                             epochs="many", dtype=np.int8, vocab=42)
    assert clf.get_params()["hidden_size"] == -5
    assert clf.init_state == "noise" and clf.vocab == 42
    assert not [k for k in vars(clf) if k.endswith("_")]
    X, y = small_problem()
    with pytest.raises(ValueError, match="init_state"):
        clf.fit(X, y)


def test_get_params_set_params_round_trip():
    clf = SequenceClassifier(hidden_size=7, lr=0.5, seed=3)
    params = clf.get_params()
    assert sorted(params) == sorted(
        ["hidden_size", "vocab", "input_size", "optimizer", "lr", "epochs", "batch_size",
         "clip", "init_state", "dtype", "seed", "shuffle", "verbose"])
    assert params["hidden_size"] == 7 and params["lr"] == 0.5 and params["dtype"] is np.float32
    other = SequenceClassifier(**params)
    assert other.get_params() == params
    assert clf.set_params(epochs=2, optimizer="sgd") is clf
    assert clf.get_params(deep=False)["epochs"] == 2 and clf.optimizer == "sgd"
    with pytest.raises(ValueError, match="Invalid parameter 'hiden_size'"):
        clf.set_params(hiden_size=3)


def test_set_params_takes_effect_at_next_fit():
    clf, X, y = fitted()
    clf.set_params(hidden_size=5, epochs=1)
    assert clf.params_["Waa"].shape == (8, 8)  # fitted state untouched until refit
    clf.fit(X, y)
    assert clf.params_["Waa"].shape == (5, 5) and clf.n_iter_ == 1


def test_sklearn_clone():
    base = pytest.importorskip("sklearn.base")
    vocab = Vocabulary.from_text("abc")
    clf = SequenceClassifier(hidden_size=4, vocab=vocab, seed=1)
    clf.fit(["ab", "ba", "cab"], [0, 1, 0])
    twin = base.clone(clf)
    assert twin.get_params(deep=False).keys() == clf.get_params(deep=False).keys()
    assert twin.hidden_size == 4 and twin.vocab == vocab
    assert not hasattr(twin, "params_")


def test_sklearn_model_selection():
    pytest.importorskip("sklearn")
    from sklearn.base import is_classifier
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = small_problem()
    clf = SequenceClassifier(hidden_size=8, epochs=30, seed=0)
    assert is_classifier(clf)
    assert cross_val_score(clf, X, y, cv=3).min() >= 0.9
    search = GridSearchCV(SequenceClassifier(epochs=2, seed=0), {"hidden_size": [2, 4]}, cv=2)
    assert search.fit(X, y).best_params_["hidden_size"] in (2, 4)
    assert search.best_estimator_.params_["Waa"].shape[0] == search.best_params_["hidden_size"]


def test_pickle_round_trip():
    clf, X, _ = fitted()
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------
def test_same_seed_same_model_different_seed_different_model():
    a, X, _ = fitted(seed=11)
    b, _, _ = fitted(seed=11)
    c, _, _ = fitted(seed=12)
    for k in a.params_:
        np.testing.assert_array_equal(a.params_[k], b.params_[k])
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.params_["Waa"], c.params_["Waa"])


def test_shuffle_false_is_deterministic_in_data_order():
    # without shuffling only the initialisation uses the seed
    a, _, _ = fitted(seed=5, shuffle=False)
    b, _, _ = fitted(seed=5, shuffle=True)
    assert a.loss_curve_ != b.loss_curve_


def test_partial_fit_epochs_equal_fit():
    X, y = small_problem()
    full = SequenceClassifier(hidden_size=8, epochs=3, seed=4).fit(X, y)
    inc = SequenceClassifier(hidden_size=8, epochs=99, seed=4)
    with pytest.raises(ValueError, match="classes must be passed"):
        inc.partial_fit(X, y)
    for _ in range(3):
        inc.partial_fit(X, y, classes=[0, 1, 2])
    assert inc.n_iter_ == 3 and inc.loss_curve_ == full.loss_curve_
    for k in full.params_:
        np.testing.assert_array_equal(inc.params_[k], full.params_[k])
    with pytest.raises(ValueError, match=r"labels not in classes: \[5\]"):
        inc.partial_fit(X[:2], [0, 5])
    with pytest.raises(IndexError, match=r"X\[1\] has token id 3 at position 0"):
        inc.partial_fit([[0], [3]], [0, 1])
    assert inc.n_iter_ == 3  # failed calls do not train


# ---------------------------------------------------------------------------
# input formats: ragged lists, 2-d arrays, raw strings
# ---------------------------------------------------------------------------
def test_padded_batch_equals_each_sequence_alone():
    clf, X, _ = fitted()
    rng = np.random.default_rng(1)
    mixed = [rng.integers(0, 3, size=L) for L in (1, 9, 3, 1, 17, 4, 9)]
    batch = clf.predict_proba(mixed)
    for i, s in enumerate(mixed):
        np.testing.assert_allclose(batch[i], clf.predict_proba([s])[0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(batch[i], clf.predict_proba([list(s)])[0], rtol=0, atol=1e-6)


def test_more_sequences_than_one_predict_batch():
    # > 256 sequences: several forward calls, results back in input order
    clf, _, _ = fitted()
    rng = np.random.default_rng(2)
    X = [rng.integers(0, 3, size=L) for L in rng.integers(1, 30, size=600)]
    proba = clf.predict_proba(X)
    for i in (0, 255, 256, 257, 599):
        np.testing.assert_allclose(proba[i], clf.predict_proba([X[i]])[0], rtol=0, atol=1e-6)


def test_2d_array_equals_list_of_lists():
    clf, _, _ = fitted()
    X2 = np.random.default_rng(3).integers(0, 3, size=(20, 6)).astype(np.int32)
    np.testing.assert_allclose(clf.predict_proba(X2), clf.predict_proba(X2.tolist()),
                               rtol=0, atol=1e-6)
    y = X2[:, 0]
    a = SequenceClassifier(hidden_size=4, epochs=2, seed=0).fit(X2, y)
    b = SequenceClassifier(hidden_size=4, epochs=2, seed=0).fit(list(X2), y)
    assert a.loss_curve_ == b.loss_curve_


def test_raw_strings_with_vocabulary():
    vocab = Vocabulary.from_text("abcd")
    rng = np.random.default_rng(0)
    letters = np.array(list("abcd"))

    def data(n):
        X = ["".join(rng.choice(letters, size=L)) for L in rng.integers(1, 7, size=n)]
        return X, np.array(["vowel" if s[0] == "a" else "consonant" for s in X])

    X_train, y_train = data(400)
    X_test, y_test = data(200)
    clf = SequenceClassifier(hidden_size=16, vocab=vocab, epochs=15, seed=0)
    clf.fit(X_train, y_train)
    assert clf.vocab_ is vocab and clf.input_size_ == len(vocab)
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.predict(["a", "dddd", "axyz"]).tolist() == ["vowel", "consonant", "vowel"]
    with pytest.raises(ValueError, match=r"X\[1\] \(''\) encodes to no tokens"):
        clf.predict(["ab", ""])
    with pytest.raises(TypeError, match=r"X\[0\] is a list"):
        clf.predict([[0, 1]])
    with pytest.raises(TypeError, match="single str"):
        clf.predict("abc")


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
def test_unfitted_estimator_raises_not_fitted_error():
    clf = SequenceClassifier()
    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method([[0, 1]])
    with pytest.raises(NotFittedError):
        clf.score([[0, 1]], [0])
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


@pytest.mark.parametrize("X, match", [
    ([], "X is empty"),
    (np.zeros((0, 4), dtype=int), "X is empty"),
    ([[0, 1], [], [1]], r"X\[1\] is an empty sequence"),
    (np.zeros((2, 0), dtype=int), "empty sequence"),
    ([[0, 1], [[1, 0]]], r"X\[1\] must be a 1-d sequence"),
])
def test_fit_rejects_empty_input(X, match):
    with pytest.raises(ValueError, match=match):
        SequenceClassifier(epochs=1).fit(X, [0, 1][:len(X)])


@pytest.mark.parametrize("X, match", [
    ([[0.0, 1.0], [1.0]], r"X\[0\] has dtype float64"),
    (np.zeros((2, 3)), "2-d integer token ids"),
    (["ab", "c"], r"X\[0\] is a str; raw strings need a vocabulary"),
    ([3, 4], r"X\[0\] is the integer 3"),
    ("abc", "single str"),
    (5, "list of integer id sequences"),
])
def test_fit_rejects_wrong_types(X, match):
    with pytest.raises(TypeError, match=match):
        SequenceClassifier(epochs=1).fit(X, [0, 1])


def test_ids_out_of_range_at_predict_name_sequence_and_position():
    clf, _, _ = fitted()  # input_size_ == 3
    with pytest.raises(IndexError, match=r"X\[2\] has token id 3 at position 1; .*\[0, 3\)"):
        clf.predict([[0], [1, 2], [0, 3, 1]])
    with pytest.raises(ValueError, match=r"X\[0\] has token id -1 at position 2"):
        clf.predict_proba([[0, 1, -1]])
    with pytest.raises(fastrnn.FastRNNIndexError, match=r"X\[1\] has token id 7 at position 0"):
        clf.predict(np.array([[0, 1], [7, 0]]))


def test_ids_out_of_range_at_fit():
    with pytest.raises(IndexError, match=r"X\[1\] has token id -2 at position 1"):
        SequenceClassifier(epochs=1).fit([[0, 1], [1, -2]], [0, 1])
    with pytest.raises(IndexError, match=r"X\[0\] has token id 4 at position 0"):
        SequenceClassifier(epochs=1, input_size=4).fit([[4, 1], [1, 2]], [0, 1])


def test_y_length_mismatch():
    X, y = small_problem()
    with pytest.raises(ValueError, match="inconsistent numbers of samples: 120 sequences, 119"):
        SequenceClassifier(epochs=1).fit(X, y[:-1])
    clf, _, _ = fitted()
    with pytest.raises(ValueError, match="inconsistent"):
        clf.score(X, y[:5])
    with pytest.raises(ValueError, match="y must be 1-d"):
        SequenceClassifier(epochs=1).fit(X, y[:, None])


def test_single_class_is_rejected():
    X, _ = small_problem()
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 'spam'"):
        SequenceClassifier(epochs=1).fit(X, ["spam"] * len(X))


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"init_state": "noise"}, ValueError, r"\['zeros', 'random', 'learned'\]"),
    ({"hidden_size": 0}, ValueError, "hidden_size must be >= 1"),
    ({"hidden_size": 2.5}, TypeError, "hidden_size must be an integer"),
    ({"epochs": 0}, ValueError, "epochs must be >= 1"),
    ({"batch_size": True}, TypeError, "batch_size must be an integer"),
    ({"optimizer": "rmsprop"}, ValueError, r"optimizer must be one of \['sgd', 'adagrad', 'adam'\]"),
    ({"lr": -1.0}, ValueError, "lr must be a positive"),
    ({"clip": 0.0}, ValueError, "clip must be a positive"),
    ({"dtype": np.float16}, TypeError, "dtype must be float32 or float64"),
    ({"vocab": {"a": 0}}, TypeError, "vocab must be a fastrnn.Vocabulary"),
    ({"input_size": 0}, ValueError, "input_size must be >= 1"),
    ({"vocab": Vocabulary.from_text("abc"), "input_size": 2}, ValueError, "smaller than the vocabulary"),
])
def test_fit_validates_hyperparameters(kwargs, exc, match):
    X, y = (["ab", "ba"], [0, 1]) if "vocab" in kwargs else ([[0, 1], [1, 0]], [0, 1])
    clf = SequenceClassifier(**{"epochs": 1, **kwargs})
    with pytest.raises(exc, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "params_")


def test_non_finite_loss_stops_training_before_the_step():
    X, y = small_problem()
    clf = SequenceClassifier(hidden_size=8, seed=0).partial_fit(X, y, classes=[0, 1, 2])
    clf.params_["Wya"][0, 0] = np.nan
    Waa = clf.params_["Waa"].copy()
    with pytest.raises(FloatingPointError, match="diverged at epoch 2, step 5"):
        clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.params_["Waa"], Waa)
