"""Sequence classification with an Elman RNN, as a scikit-learn-style estimator.

:class:`SequenceClassifier` reads a variable-length sequence of token ids (or a
raw string, through a :class:`~fastrnn.vocab.Vocabulary`) and classifies it by
the softmax output at its last step (the contract's many-to-one mode,
T_y = 1)::

    a<t> = tanh(Waa a<t-1> + Wax x<t> + ba),   ŷ = softmax(Wya a<T_x> + by)

It follows scikit-learn's estimator conventions without depending on
scikit-learn: the constructor only stores its arguments, ``fit`` validates
them and sets the fitted attributes (names ending in ``_``), and
``get_params``/``set_params`` introspect the constructor's signature, so
``sklearn.base.clone``, grid searches and pipelines work with it.
"""
from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._api import forward, init_params, loss_and_grads
from ._util import check_int
from ._validate import FastRNNIndexError, check_float_dtype
from .optim import OPTIMIZERS, clip_by_global_norm, make_optimizer
from .vocab import Vocabulary

__all__ = ["SequenceClassifier", "NotFittedError"]

#: Valid values of ``init_state``.
INIT_STATES = ("zeros", "random", "learned")

# Sequences per fastrnn.forward call at prediction time.
_PREDICT_BATCH = 256


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before it was fitted.

    Subclasses ``ValueError`` and ``AttributeError`` (as scikit-learn's
    ``sklearn.exceptions.NotFittedError`` does), so either ``except`` clause
    catches it.

    Notes
    -----
    Thread safety: an exception class; nothing is shared.
    """


# ---------------------------------------------------------------------------
# hyperparameter checks (run by fit, never by the constructor)
# ---------------------------------------------------------------------------
def _check_seed(seed):
    """None, a non-negative int, or a NumPy generator (what default_rng takes)."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.BitGenerator,
                                         np.random.SeedSequence)):
        return seed
    return check_int(seed, "seed", minimum=0)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _check_clip(clip) -> float | None:
    if clip is None:
        return None
    if isinstance(clip, (bool, np.bool_)) or not isinstance(clip, numbers.Real):
        raise TypeError(f"clip must be a positive number or None, got {clip!r}")
    c = float(clip)
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"clip must be a positive finite number or None, got {clip!r}")
    return c


def _check_unsigned(a: np.ndarray, where: str) -> None:
    """An unsigned id beyond intp would wrap to a negative one in the cast."""
    big = np.iinfo(np.intp).max
    if a.dtype.kind == "u" and a.size and a.max() > big:
        pos = tuple(int(i) for i in np.argwhere(a > big)[0])
        at = pos[0] if len(pos) == 1 else list(pos)
        raise FastRNNIndexError(f"{where} has token id {int(a[pos])} at position {at}; "
                                f"ids must be in [0, input_size)")


def _label_kind(value) -> str | None:
    """"string", "bytes object" or "number": the kinds NumPy would make one string type."""
    return _label_kind_of_type(type(value))


def _check_labels(labels, arr: np.ndarray, name: str) -> None:
    """Refuse labels that NumPy would silently change in `arr` (= np.asarray(labels)).

    A mix of strings and numbers (or str and bytes) becomes one string type,
    so a predicted 1 would come back as '1'; fixed-width strings drop
    trailing NULs, so 'a\\x00' would come back as 'a' (the class of 'a').
    Object arrays hold the labels as given: only the mix is refused there.
    The kinds come from the set of the labels' types (C speed); the labels
    are looked at one by one only to name an offending pair.
    """
    if arr.dtype.kind == "O":
        values: Any = arr
    elif arr.dtype.kind in "US" and not isinstance(labels, np.ndarray):
        values = labels if isinstance(labels, (list, tuple)) else list(labels)
    else:
        return   # numbers, or strings that were fixed-width before they reached us
    types = set(map(type, values))
    kinds = {_label_kind_of_type(t) for t in types} - {None}
    if len(kinds) > 1:
        first: dict[str, int] = {}
        for i, v in enumerate(values):
            kind = _label_kind(v)
            if kind is not None:
                first.setdefault(kind, i)
            if len(first) > 1:
                (k1, i1), (k2, i2) = first.items()
                raise ValueError(
                    f"{name} has labels of mixed types: {values[i1]!r} at [{i1}] is a {k1} "
                    f"and {values[i2]!r} at [{i2}] a {k2}; use labels of one type "
                    "(scikit-learn also refuses a mix of label input types)")
    if arr.dtype.kind in "US":
        # a label that lost trailing NULs is longer than its stored string
        given = np.fromiter(map(len, values), dtype=np.intp, count=len(values))
        kept = np.strings.str_len(arr)
        if not np.array_equal(given, kept):
            i = int(np.flatnonzero(given != kept)[0])
            v = values[i]
            nul: Any = "\x00" if arr.dtype.kind == "U" else b"\x00"
            raise ValueError(
                f"{name} has the label {v!r} at [{i}], which ends in a NUL character: "
                f"NumPy's fixed-width strings drop trailing NULs, so it would become "
                f"{v.rstrip(nul)!r}; pass {name} as an object array "
                f"(np.array({name}, dtype=object)) to keep such labels")
    elif any(t is float or issubclass(t, (float, np.floating, complex, np.complexfloating))
             for t in types):
        # NaN in an object array: never equal to itself, so one class per NaN
        for i, v in enumerate(values):
            if v != v:
                raise ValueError(f"{name} has the label {v!r} at [{i}]; labels must not "
                                 "be NaN (a NaN is not equal to itself, so never a class)")


def _label_array(labels, name: str) -> np.ndarray:
    """np.asarray(labels), with NumPy's conversion errors (labels of several
    shapes, e.g. "a" and (1, 2)) naming `name`."""
    try:
        return np.asarray(labels)
    except MemoryError:
        raise
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be made an array of labels (one label per "
                         f"sequence, each a number or a string): {exc}") from None


def _label_kind_of_type(t: type) -> str | None:
    """_label_kind for every value of type t."""
    if issubclass(t, str):
        return "string"
    if issubclass(t, bytes):
        return "bytes object"
    if issubclass(t, (numbers.Number, np.bool_)):
        return "number"
    return None


# ---------------------------------------------------------------------------
# sequences: ragged input held as one flat id array plus offsets
# ---------------------------------------------------------------------------
class _Sequences:
    """n sequences of token ids: ``flat[offsets[i]:offsets[i] + lengths[i]]``."""

    __slots__ = ("flat", "offsets", "lengths")

    def __init__(self, flat: np.ndarray, offsets: np.ndarray, lengths: np.ndarray):
        self.flat = flat
        self.offsets = offsets
        self.lengths = lengths

    def __len__(self) -> int:
        return self.lengths.shape[0]

    def padded(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, T) ids of the sequences `idx`, zero-padded to their longest, and (B,) lengths."""
        L = self.lengths[idx]
        T = int(L.max())
        steps = np.arange(T)
        valid = steps[None, :] < L[:, None]
        pos = self.offsets[idx][:, None] + steps[None, :]
        # positions past a sequence's end read id 0 (ignored through `lengths`)
        ids = np.where(valid, self.flat[np.minimum(pos, self.flat.shape[0] - 1)], 0)
        return ids, L


def _list_of_sequences(X, what: str) -> list:
    """`X` as a non-empty list; the errors say that X must be a list of `what`."""
    try:
        items = list(X)
    except TypeError:
        raise TypeError(f"X must be a list of {what}, got {type(X).__name__}") from None
    if not items:
        raise ValueError("X is empty; at least one sequence is required")
    return items


def _sequences_from_ids(X) -> _Sequences:
    """Check a 2-d integer array or a list of 1-d integer id sequences."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.dtype.kind not in "iu" or X.ndim != 2:
            raise TypeError(
                f"X as an array must be 2-d integer token ids (n_sequences, length), "
                f"got dtype {X.dtype} and shape {X.shape}; pass variable-length "
                "sequences as a list of 1-d integer arrays")
        n, T = X.shape
        if n == 0:
            raise ValueError("X is empty; at least one sequence is required")
        if T == 0:
            raise ValueError("X[0] is an empty sequence; every sequence needs >= 1 token")
        _check_unsigned(X, "X")
        flat = np.ascontiguousarray(X, dtype=np.intp).reshape(-1)
        return _Sequences(flat, np.arange(n, dtype=np.intp) * T, np.full(n, T, dtype=np.intp))
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"X must be a list of sequences, got a single {type(X).__name__}; "
            "to classify raw strings, construct the classifier with vocab=")
    items = _list_of_sequences(X, "integer id sequences")
    arrays = []
    for i, s in enumerate(items):
        if isinstance(s, (str, bytes)):
            raise TypeError(
                f"X[{i}] is a {type(s).__name__}; raw strings need a vocabulary "
                "(construct the classifier with vocab=)")
        if isinstance(s, numbers.Integral):
            raise TypeError(
                f"X[{i}] is the integer {s!r}, not a sequence; X must be a list of "
                "sequences (wrap a single sequence as [seq])")
        try:
            a = np.asarray(s)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"X[{i}] is not a sequence of integer ids: {exc}") from None
        if a.ndim != 1:
            raise ValueError(f"X[{i}] must be a 1-d sequence of token ids, got shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"X[{i}] is an empty sequence; every sequence needs >= 1 token")
        if a.dtype.kind not in "iu":
            raise TypeError(f"X[{i}] has dtype {a.dtype}; token ids must be integers")
        _check_unsigned(a, f"X[{i}]")
        arrays.append(a)
    return _from_arrays(arrays)


def _from_arrays(arrays: list) -> _Sequences:
    lengths = np.fromiter((a.shape[0] for a in arrays), dtype=np.intp, count=len(arrays))
    offsets = np.zeros(len(arrays), dtype=np.intp)
    np.cumsum(lengths[:-1], out=offsets[1:])
    flat = np.concatenate(arrays).astype(np.intp, copy=False)
    return _Sequences(flat, offsets, lengths)


def _sequences_from_text(X, vocab: Vocabulary) -> _Sequences:
    """Encode a list of raw strings with `vocab`."""
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"X must be a list of strings, got a single {type(X).__name__}; "
            "wrap a single string as [text]")
    items = _list_of_sequences(X, "strings")
    arrays = []
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise TypeError(
                f"X[{i}] is a {type(s).__name__}; with vocab= every sequence must be a str")
        a = vocab.encode(s)
        if a.shape[0] == 0:
            raise ValueError(
                f"X[{i}] ({s!r}) encodes to no tokens; every sequence needs >= 1 token")
        arrays.append(a)
    return _from_arrays(arrays)


def _check_id_range(seqs: _Sequences, input_size: int, when: str) -> None:
    """Every id in [0, input_size); the error names the sequence and position."""
    flat = seqs.flat
    if flat.min() >= 0 and flat.max() < input_size:
        return
    k = int(np.flatnonzero((flat < 0) | (flat >= input_size))[0])
    i = int(np.searchsorted(seqs.offsets, k, side="right")) - 1
    raise FastRNNIndexError(
        f"X[{i}] has token id {int(flat[k])} at position {k - int(seqs.offsets[i])}; "
        f"ids must be in [0, {input_size}) (input_size{when})")


# ---------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------
class SequenceClassifier:
    """Classify variable-length sequences by an Elman RNN's last state.

    Each sequence x<1>, ..., x<T_x> (token ids, or a string encoded with
    `vocab`) runs through ``a<t> = tanh(Waa a<t-1> + Wax x<t> + ba)``; the
    class probabilities are ``softmax(Wya a<T_x> + by)``.  Training minimises
    the mean cross-entropy over mini-batches with backpropagation through
    time (:func:`fastrnn.loss_and_grads`, many-to-one mode).

    The constructor only stores its arguments (scikit-learn's convention);
    they are validated by :meth:`fit`.

    Parameters
    ----------
    hidden_size : int, default 64
        H, the size of the hidden state.
    vocab : Vocabulary, optional
        If given, ``X`` is a list of raw strings, encoded with
        :meth:`Vocabulary.encode`; the input size is ``len(vocab)``.
    input_size : int, optional
        I, the number of distinct token ids; ids must be in ``[0, I)``.
        Inferred at :meth:`fit` as the largest id + 1 (or ``len(vocab)``)
        when omitted.  Give it when later data may contain larger ids.
    optimizer : {"adam", "adagrad", "sgd"}, default "adam"
        Passed to :func:`fastrnn.optim.make_optimizer`.
    lr : float, default 1e-2
        Learning rate.
    epochs : int, default 20
        Passes over the training data made by :meth:`fit`.
    batch_size : int, default 32
        Sequences per gradient step (the last batch of an epoch may be
        smaller).  Each batch is padded to its longest sequence.
    clip : float or None, default 5.0
        Maximum global L2 norm of the (batch-mean) gradient; ``None`` disables
        clipping.
    init_state : {"zeros", "random", "learned"}, default "zeros"
        The initial state a<0>: zeros; a fixed random vector drawn from
        U(-1, 1) at fit time from `seed` (the same a<0> for training and
        prediction, so predictions stay deterministic); or a vector of H
        parameters trained with the weights.  Stored as ``a0_``.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Dtype of the parameters and of all arithmetic.
    seed : None, int or numpy.random.Generator, default None
        Seeds :func:`numpy.random.default_rng`, which draws the initial
        weights and the mini-batch order: a fixed int makes :meth:`fit`
        deterministic.
    shuffle : bool, default True
        Shuffle the sequences before every epoch.
    verbose : bool, default False
        Print the mean loss after every epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted distinct labels seen by :meth:`fit`.
    params_ : dict of ndarray
        The trained RNN: ``"Wax"`` (H, I), ``"Waa"`` (H, H), ``"ba"`` (H,),
        ``"Wya"`` (n_classes, H), ``"by"`` (n_classes,), usable directly with
        :func:`fastrnn.forward`.
    a0_ : ndarray of shape (H,)
        The initial state a<0> (see `init_state`).
    input_size_ : int
        I, the number of token ids the model accepts.
    vocab_ : Vocabulary or None
        The vocabulary used to encode strings (``vocab`` at fit time).
    loss_curve_ : list of float
        Mean cross-entropy per training sequence, one entry per epoch.
    n_iter_ : int
        Number of epochs run.
    t_ : int
        Number of optimizer steps taken.

    See Also
    --------
    fastrnn.forward, fastrnn.loss_and_grads : The numerical contract used.

    Notes
    -----
    Thread safety: fit, partial_fit and set_params mutate the estimator,
    so an instance must not be fitted from two threads at once, nor used
    for prediction while another thread fits it.  A fitted instance that
    no thread is fitting may serve predict, predict_proba and score from
    several threads at once.  Distinct instances share nothing and may be
    fitted concurrently (the kernels release the GIL), with the results of
    a serial run.

    Examples
    --------
    Label a sequence of 0s and 1s by its first token (needs memory):

    >>> import numpy as np
    >>> from fastrnn.classifier import SequenceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.integers(0, 2, size=n) for n in rng.integers(2, 6, size=200)]
    >>> y = np.array(["even" if s[0] == 0 else "odd" for s in X])
    >>> clf = SequenceClassifier(hidden_size=8, epochs=10, seed=0).fit(X, y)
    >>> clf.classes_
    array(['even', 'odd'], dtype='<U4')
    >>> clf.predict([[0, 1, 1], [1, 0, 0, 0]])
    array(['even', 'odd'], dtype='<U4')
    >>> clf.score(X, y)
    1.0
    >>> proba = clf.predict_proba([[0, 1], [1, 1]])
    >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1))
    ((2, 2), True)
    """

    # how scikit-learn < 1.6 recognises a classifier (stratified CV folds, ...)
    _estimator_type = "classifier"

    def __init__(self, hidden_size=64, *, vocab=None, input_size=None, optimizer="adam",
                 lr=1e-2, epochs=20, batch_size=32, clip=5.0, init_state="zeros",
                 dtype=np.float32, seed=None, shuffle=True, verbose=False):
        self.hidden_size = hidden_size
        self.vocab = vocab
        self.input_size = input_size
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.clip = clip
        self.init_state = init_state
        self.dtype = dtype
        self.seed = seed
        self.shuffle = shuffle
        self.verbose = verbose

    # -- scikit-learn's parameter protocol -------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted (as BaseEstimator does)."""
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self" or p.kind == p.VAR_KEYWORD:
                continue
            if p.kind == p.VAR_POSITIONAL:
                raise RuntimeError(f"{cls.__name__}.__init__ must not take *args")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict:
        """Get this estimator's parameters (the constructor's arguments).

        Parameters
        ----------
        deep : bool, default True
            Also return the parameters of nested estimators (objects with
            ``get_params``), as ``<name>__<param>``.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params) -> SequenceClassifier:
        """Set this estimator's parameters.

        Nested estimators' parameters are set as ``<name>__<param>``.  Nothing
        is validated until the next :meth:`fit`.

        Returns
        -------
        SequenceClassifier
            self.

        Raises
        ------
        ValueError
            For a name that is not a constructor parameter.
        """
        if not params:
            return self
        valid = self._get_param_names()
        nested: dict[str, dict] = {}
        for key, value in params.items():
            name, delim, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}.")
            if delim:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn >= 1.6 (only scikit-learn calls this)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_label=False),
                    input_tags=InputTags(two_d_array=False, string=self.vocab is not None))

    def __repr__(self) -> str:
        defaults = {n: p.default for n, p in
                    inspect.signature(type(self).__init__).parameters.items()}
        shown = []
        for name in self._get_param_names():
            value, default = getattr(self, name), defaults.get(name, inspect.Parameter.empty)
            same = value is default
            if not same and not isinstance(value, np.ndarray):
                try:
                    same = bool(type(value) is type(default) and value == default)
                except Exception:  # an __eq__ without a plain bool answer
                    same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- fitting ---------------------------------------------------------------
    def _check_hyperparameters(self) -> dict:
        """Validate every constructor argument; return the checked values."""
        if self.init_state not in INIT_STATES:
            raise ValueError(
                f"init_state must be one of {list(INIT_STATES)}, got {self.init_state!r}")
        if self.vocab is not None and not isinstance(self.vocab, Vocabulary):
            raise TypeError(
                f"vocab must be a fastrnn.Vocabulary or None, got {type(self.vocab).__name__}")
        input_size = (None if self.input_size is None
                      else check_int(self.input_size, "input_size", 1))
        if self.vocab is not None and input_size is not None and input_size < len(self.vocab):
            raise ValueError(
                f"input_size={input_size} is smaller than the vocabulary ({len(self.vocab)} "
                "tokens); omit input_size to use len(vocab)")
        opt = self.optimizer.lower() if isinstance(self.optimizer, str) else self.optimizer
        if opt not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}")
        _check_seed(self.seed)
        _check_bool(self.shuffle, "shuffle")
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_int(self.verbose, "verbose", 0)
        return {
            "H": check_int(self.hidden_size, "hidden_size", 1),
            "input_size": input_size,
            "optimizer": opt,
            "epochs": check_int(self.epochs, "epochs", 1),
            "batch_size": check_int(self.batch_size, "batch_size", 1),
            "clip": _check_clip(self.clip),
            "dtype": check_float_dtype(self.dtype),
        }

    def _sequences(self, X, vocab) -> _Sequences:
        return _sequences_from_ids(X) if vocab is None else _sequences_from_text(X, vocab)

    @staticmethod
    def _check_y(y, n: int) -> np.ndarray:
        y_arr = _label_array(y, "y")
        if y_arr.ndim != 1:
            raise ValueError(f"y must be 1-d (one label per sequence), got shape {y_arr.shape}")
        if y_arr.shape[0] != n:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {n} sequences, "
                f"{y_arr.shape[0]} labels")
        _check_labels(y, y_arr, "y")
        if y_arr.dtype.kind in "fc" and not np.isfinite(y_arr).all():
            pos = int(np.flatnonzero(~np.isfinite(y_arr))[0])
            raise ValueError(f"y has the label {y_arr[pos]!r} at [{pos}]; labels must "
                             "be finite (NaN and infinity are not classes)")
        if y_arr.dtype.kind in "mM" and np.isnat(y_arr).any():
            pos = int(np.flatnonzero(np.isnat(y_arr))[0])
            raise ValueError(f"y has the label {y_arr[pos]!r} at [{pos}]; labels must "
                             "not be NaT (it is not equal to itself, so never a class)")
        return y_arr

    @staticmethod
    def _unique(labels: np.ndarray, name: str, return_inverse: bool = False) -> Any:
        """np.unique, with an error naming `name` for labels that cannot be sorted."""
        try:
            if return_inverse:
                return np.unique(labels, return_inverse=True)
            return np.unique(labels)
        except TypeError as exc:
            raise TypeError(f"{name} holds labels that cannot be sorted against each "
                            f"other ({exc}); use labels of one type, e.g. ints or str"
                            ) from None

    def _initialize(self, hp: dict, seqs: _Sequences, classes: np.ndarray, rng) -> None:
        """Fresh parameters, optimizer and fitted attributes (all or nothing)."""
        if hp["input_size"] is not None:
            input_size = hp["input_size"]
        elif self.vocab is not None:
            input_size = len(self.vocab)
        else:
            if int(seqs.flat.min()) < 0:
                _check_id_range(seqs, int(seqs.flat.max()) + 1, " inferred from X")
            input_size = int(seqs.flat.max()) + 1
        params = init_params(input_size, hp["H"], len(classes), dtype=hp["dtype"], seed=rng)
        if self.init_state == "random":
            a0 = rng.uniform(-1.0, 1.0, hp["H"]).astype(hp["dtype"])
        else:
            a0 = np.zeros(hp["H"], dtype=hp["dtype"])
        trained = dict(params)
        if self.init_state == "learned":
            trained["a0"] = a0
        optimizer = make_optimizer(hp["optimizer"], trained, lr=self.lr)
        self.classes_ = classes
        self.vocab_ = self.vocab
        self.input_size_ = input_size
        self.params_ = params
        self.a0_ = a0
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0
        self.t_ = 0
        self._optimizer = optimizer
        self._rng = rng
        self._hp = hp

    def _epoch(self, seqs: _Sequences, y_idx: np.ndarray, hp: dict) -> float:
        """One pass over the data; returns the mean loss per sequence."""
        n = len(seqs)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        learned = self.init_state == "learned"
        a0 = None if self.init_state == "zeros" else self.a0_
        bs, clip = hp["batch_size"], hp["clip"]
        dt = self.params_["Wax"].dtype.type
        total = 0.0
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            X_b, L_b = seqs.padded(idx)
            B = idx.shape[0]
            loss, grads, _ = loss_and_grads(self.params_, X_b, y_idx[idx], a0=a0, lengths=L_b)
            if not learned:
                del grads["a0"]  # a<0> = 0 is not a parameter: keep it out of the norm
            # loss = summed CE / B: scale the gradients alike
            for g in grads.values():
                np.divide(g, dt(B), out=g)
            if clip is not None:
                norm = clip_by_global_norm(grads, clip)
            else:
                norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
            if not math.isfinite(norm) or not math.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at epoch {self.n_iter_ + 1}, step {self.t_ + 1}: "
                    f"loss {loss}, gradient norm {norm}; try a smaller lr")
            self._optimizer.step(grads)
            self.t_ += 1
            total += loss
        mean = total / n
        self.n_iter_ += 1
        self.loss_curve_.append(mean)
        if self.verbose:
            print(f"Epoch {self.n_iter_}, loss = {mean:.8f}")
        return mean

    def fit(self, X, y) -> SequenceClassifier:
        """Train from scratch on sequences `X` with labels `y`.

        Parameters
        ----------
        X : list of sequences, or ndarray of shape (n_sequences, T)
            Integer token ids, one 1-d sequence (list or array, length >= 1)
            per sample; or a 2-d integer array of equal-length sequences; or,
            with ``vocab``, a list of non-empty strings.
        y : array_like of shape (n_sequences,)
            Labels (ints, strings, any sortable hashable values) of one type;
            at least two distinct ones.  A string ending in a NUL character
            needs `y` as an object array (NumPy's fixed-width strings drop
            trailing NULs).

        Returns
        -------
        SequenceClassifier
            self, fitted.

        Raises
        ------
        ValueError
            For bad hyperparameters, an empty `X` or sequence, mismatched
            lengths of `X` and `y`, fewer than two classes, labels that mix
            strings and numbers (or str and bytes), or a label ending in NUL
            when `y` is not an object array.
        TypeError
            For inputs of the wrong type (e.g. float ids).
        IndexError
            (:class:`fastrnn.FastRNNIndexError`) for a token id outside
            ``[0, input_size)``, naming the sequence and position.
        """
        hp = self._check_hyperparameters()
        seqs = self._sequences(X, self.vocab)
        y_arr = self._check_y(y, len(seqs))
        classes, y_idx = self._unique(y_arr, "y", return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                "SequenceClassifier needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {classes.tolist()[0]!r}")
        if hp["input_size"] is not None:
            _check_id_range(seqs, hp["input_size"], f"={hp['input_size']}")
        self._initialize(hp, seqs, classes, np.random.default_rng(self.seed))
        y_idx = y_idx.astype(np.intp, copy=False)
        for _ in range(hp["epochs"]):
            self._epoch(seqs, y_idx, hp)
        return self

    def partial_fit(self, X, y, classes=None) -> SequenceClassifier:
        """One more epoch over `X`, `y` (incremental learning).

        The first call initializes the model and must be given every label
        in `classes`; later calls continue training with the same optimizer
        state.  Give ``input_size`` (or ``vocab``) in the constructor when
        later batches may contain larger ids than the first.

        Parameters
        ----------
        X, y
            As in :meth:`fit`.
        classes : array_like, optional
            All labels that will ever appear; required on the first call.

        Returns
        -------
        SequenceClassifier
            self.
        """
        first = not hasattr(self, "_optimizer")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            hp = self._check_hyperparameters()
        else:
            hp = self._hp
        vocab = self.vocab if first else self.vocab_
        seqs = self._sequences(X, vocab)
        y_arr = self._check_y(y, len(seqs))
        if first:
            classes_arr = _label_array(classes, "classes")
            if classes_arr.ndim != 1:
                raise ValueError(f"classes must be 1-d (a list of labels), got shape "
                                 f"{classes_arr.shape}")
            _check_labels(classes, classes_arr, "classes")
            all_classes = self._unique(classes_arr, "classes")
            if all_classes.shape[0] < 2:
                raise ValueError(
                    f"classes must list at least 2 distinct labels, got {classes!r}")
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                          all_classes):
                raise ValueError(
                    f"classes={classes!r} is not the same as on the first call to "
                    f"partial_fit ({all_classes!r})")
        try:
            y_idx = np.searchsorted(all_classes, y_arr)
        except TypeError:  # labels of another type than the classes
            raise TypeError(f"y has labels of dtype {y_arr.dtype}, which cannot be compared "
                            f"with the classes {all_classes!r}") from None
        np.minimum(y_idx, all_classes.shape[0] - 1, out=y_idx)
        unknown = all_classes[y_idx] != y_arr
        if unknown.any():
            raise ValueError(
                f"y contains labels not in classes: {np.unique(y_arr[unknown]).tolist()!r}")
        if first:
            if hp["input_size"] is not None:
                _check_id_range(seqs, hp["input_size"], f"={hp['input_size']}")
            self._initialize(hp, seqs, all_classes, np.random.default_rng(self.seed))
        else:
            _check_id_range(seqs, self.input_size_, f"_={self.input_size_}, set by the first call")
        self._epoch(seqs, y_idx.astype(np.intp, copy=False), hp)
        return self

    # -- prediction -------------------------------------------------------------
    def _check_is_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of each sequence, read at its last step.

        Parameters
        ----------
        X : list of sequences, or ndarray of shape (n_sequences, T)
            As in :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_sequences, n_classes)
            Rows sum to 1; columns follow :attr:`classes_`.  Dtype of the
            parameters.
        """
        self._check_is_fitted()
        seqs = self._sequences(X, self.vocab_)
        _check_id_range(seqs, self.input_size_, f"_={self.input_size_}, learned at fit")
        n = len(seqs)
        out = np.empty((n, self.classes_.shape[0]), dtype=self.params_["Wax"].dtype)
        # batch sequences of similar length together: little padding
        order = np.argsort(seqs.lengths, kind="stable")
        for start in range(0, n, _PREDICT_BATCH):
            idx = order[start:start + _PREDICT_BATCH]
            X_b, L_b = seqs.padded(idx)
            probs, _ = forward(self.params_, X_b, a0=self.a0_, lengths=L_b)
            out[idx] = probs[np.arange(idx.shape[0]), L_b - 1]
        return out

    def predict(self, X) -> np.ndarray:
        """The most probable label of each sequence.

        Parameters
        ----------
        X : list of sequences, or ndarray of shape (n_sequences, T)
            As in :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_sequences,)
            Labels from :attr:`classes_`.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y) -> float:
        """Accuracy: the fraction of sequences whose predicted label equals `y`.

        Parameters
        ----------
        X : list of sequences, or ndarray of shape (n_sequences, T)
            As in :meth:`fit`.
        y : array_like of shape (n_sequences,)
            True labels.

        Returns
        -------
        float
        """
        pred = self.predict(X)
        y_arr = self._check_y(y, pred.shape[0])
        return float(np.mean(pred == y_arr))
