"""Parameters to and from PyTorch (``nn.RNN`` + ``nn.Linear``) and Keras
(``SimpleRNN`` + ``Dense``) weights, as plain NumPy arrays.

fastrnn's RNN is column-vector math (the course's notation)::

    a<t> = tanh(Waa a<t-1> + Wax x<t> + ba)          ŷ<t> = softmax(Wya a<t> + by)

PyTorch stores the same matrices (``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1}
W_hh^T + b_hh)``, ``y = h W^T + b``) with two recurrent biases; Keras stores
them transposed for row vectors (``h_t = tanh(x_t @ kernel + h_{t-1} @
recurrent_kernel + bias)``, ``y = h @ dense_kernel + dense_bias``):

============  ======================  ==========================
fastrnn       PyTorch                 Keras
============  ======================  ==========================
Wax (H, I)    weight_ih_l0 (H, I)     kernel (I, H) = Wax.T
Waa (H, H)    weight_hh_l0 (H, H)     recurrent_kernel = Waa.T
ba (H,)       bias_ih_l0 + bias_hh_l0 bias (H,)
Wya (O, H)    weight (O, H)           dense_kernel (H, O) = Wya.T
by (O,)       bias (O,)               dense_bias (O,)
============  ======================  ==========================

Nothing here imports a framework: every function takes and returns NumPy
arrays (PyTorch tensors are also accepted as input), so weights move between
libraries with ``torch.from_numpy`` / ``layer.set_weights`` on the other side.
Dtypes (float32 or float64) are preserved and the arrays returned are fresh
copies, never views of the input.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._validate import FLOAT_DTYPES, INT_MAX, check_params

__all__ = ["to_torch_state_dict", "from_torch_state_dict", "from_torch_modules",
           "to_keras_weights", "from_keras_weights", "TORCH_KEYS", "KERAS_KEYS"]

#: Keys of :func:`to_torch_state_dict`: ``nn.RNN``'s four, then ``nn.Linear``'s two.
TORCH_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight", "bias")

#: Keys of :func:`to_keras_weights`: ``SimpleRNN``'s three, then ``Dense``'s two.
KERAS_KEYS = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------
def _to_numpy(value, name: str) -> np.ndarray:
    """An ndarray from an array-like or a tensor (anything with ``detach`` and ``cpu``)."""
    try:
        if callable(getattr(value, "detach", None)) and callable(getattr(value, "cpu", None)):
            value = value.detach().cpu()
            # a lazily negated or conjugated view (torch._neg_view, .conj()):
            # NumPy cannot read it until the bit is resolved into a copy
            for resolve in ("resolve_conj", "resolve_neg"):
                if callable(getattr(value, resolve, None)):
                    value = getattr(value, resolve)()
        arr = np.asarray(value)
    except MemoryError:
        raise
    except Exception as exc:  # ragged lists, bfloat16 tensors, ...
        raise TypeError(f"{name} could not be converted to a NumPy array: {exc}") from None
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {arr.dtype}; expected float32 or float64")
    return arr


def _check_arrays(arrays: dict, names: dict, ndims: dict, expected) -> np.dtype:
    """One float dtype, the right number of dimensions, consistent sizes.

    `arrays` maps keys to ndarrays (already float32/float64), `names` keys to
    how the caller spelled them, `ndims` keys to their number of dimensions,
    and ``expected(shapes)`` gives the expected shape of every key and a note
    on where the sizes were read from.
    """
    keys = list(arrays)
    dtype = arrays[keys[0]].dtype
    for k in keys[1:]:
        if arrays[k].dtype != dtype:
            raise TypeError(
                f"{names[k]} has dtype {arrays[k].dtype} but {names[keys[0]]} has {dtype}; "
                "all weights must share one dtype")
    for k, nd in ndims.items():
        if arrays[k].ndim != nd:
            raise ValueError(
                f"{names[k]} must have {nd} dimension{'s' * (nd > 1)}, "
                f"got shape {arrays[k].shape}")
    shapes, note = expected({k: a.shape for k, a in arrays.items()})
    sizes = [s for shape in shapes.values() for s in shape]
    if min(sizes) < 1 or max(sizes) > INT_MAX:
        raise ValueError(f"every size must be in [1, {INT_MAX}]; got {note}")
    for k, shape in shapes.items():
        if arrays[k].shape != shape:
            raise ValueError(f"{names[k]} has shape {arrays[k].shape}; expected {shape} ({note})")
    return dtype


def _gather(d, keys, what: str, names: dict) -> dict:
    """The arrays of mapping `d` under exactly `keys`, converted with :func:`_to_numpy`."""
    if not isinstance(d, Mapping):
        raise TypeError(f"{what} must be a dict of arrays, got {type(d).__name__}")
    missing = [names[k] for k in keys if k not in d]
    if missing:
        raise ValueError(f"{what} is missing {', '.join(missing)}; expected keys {list(keys)}")
    extra = sorted(str(k) for k in d if k not in keys)
    if extra:
        raise ValueError(
            f"{what} has unexpected keys {extra}; expected exactly {list(keys)} "
            "(a single-layer, unidirectional RNN with biases)")
    return {k: _to_numpy(d[k], names[k]) for k in keys}


def _params(Wax, Waa, ba, Wya, by) -> dict:
    """A fastrnn parameter dict of fresh arrays, ``Wax`` Fortran-ordered as
    :func:`fastrnn.init_params` makes it (its columns are the one-hot gather)."""
    return {"Wax": np.array(Wax, order="F"), "Waa": np.array(Waa, order="C"),
            "ba": np.array(ba), "Wya": np.array(Wya, order="C"), "by": np.array(by)}


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------
def _torch_shapes(s: dict):
    H, I = s["weight_ih_l0"]
    O = s["weight"][0]
    return ({"weight_ih_l0": (H, I), "weight_hh_l0": (H, H), "bias_ih_l0": (H,),
             "bias_hh_l0": (H,), "weight": (O, H), "bias": (O,)},
            f"hidden size H={H} and input size I={I} from weight_ih_l0, "
            f"output size O={O} from weight")


def to_torch_state_dict(params) -> dict:
    """PyTorch ``nn.RNN(I, H, batch_first=True)`` and ``nn.Linear(H, O)`` weights.

    Parameters
    ----------
    params : dict
        fastrnn parameters (``Wax`` (H, I), ``Waa`` (H, H), ``ba`` (H,),
        ``Wya`` (O, H), ``by`` (O,)), all float32 or all float64, e.g. from
        :func:`fastrnn.init_params`, ``LanguageModel.params`` or
        ``SequenceClassifier.params_``.

    Returns
    -------
    dict of numpy.ndarray
        One flat dict, C-contiguous copies in the parameters' dtype:
        ``weight_ih_l0`` = Wax, ``weight_hh_l0`` = Waa, ``bias_ih_l0`` = ba,
        ``bias_hh_l0`` = zeros (H,) (the RNN's keys), and ``weight`` = Wya,
        ``bias`` = by (the Linear layer's).

    Raises
    ------
    TypeError, ValueError
        For parameters that :func:`fastrnn.forward` would refuse (missing or
        extra keys, mixed or non-float dtypes, inconsistent shapes).

    Notes
    -----
    Load the two halves with ``strict=True``::

        sd = {k: torch.from_numpy(v) for k, v in to_torch_state_dict(params).items()}
        rnn = torch.nn.RNN(I, H, batch_first=True, dtype=...)
        rnn.load_state_dict({k: sd[k] for k in TORCH_KEYS[:4]})
        linear = torch.nn.Linear(H, O, dtype=...)
        linear.load_state_dict({"weight": sd["weight"], "bias": sd["bias"]})

    Then ``softmax(linear(rnn(x, h0)[0]), -1)`` with one-hot float inputs
    ``x`` (B, T, I) (``torch.nn.functional.one_hot(ids, I)``) and ``h0`` =
    ``a0[None]`` (1, B, H) (zeros by default, as in fastrnn) gives the
    ``probs`` of ``fastrnn.forward(params, ids, a0)``, and ``rnn``'s output
    its ``A``.  Dense inputs (B, T, I) go in unchanged.  The RNN's
    nonlinearity must be the default ``"tanh"``.

    Thread safety: a pure function returning fresh arrays; safe from
    several threads.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> from fastrnn.interop import to_torch_state_dict, from_torch_state_dict
    >>> params = fastrnn.init_params(27, 50, seed=0)
    >>> sd = to_torch_state_dict(params)
    >>> {k: v.shape for k, v in sd.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'weight_ih_l0': (50, 27), 'weight_hh_l0': (50, 50), 'bias_ih_l0': (50,),
     'bias_hh_l0': (50,), 'weight': (27, 50), 'bias': (27,)}
    >>> sd["weight_ih_l0"].dtype
    dtype('float32')
    >>> back = from_torch_state_dict(sd)
    >>> all(np.array_equal(back[k], params[k]) for k in params)
    True
    """
    p = check_params(params)
    # np.array(..., order="C") always copies: the checked arrays may be the caller's
    return {"weight_ih_l0": np.array(p.WaxT.T, order="C"),
            "weight_hh_l0": np.array(p.Waa, order="C"),
            "bias_ih_l0": np.array(p.ba),
            "bias_hh_l0": np.zeros_like(p.ba),
            "weight": np.array(p.Wya, order="C"),
            "bias": np.array(p.by)}


def from_torch_state_dict(state_dict) -> dict:
    """fastrnn parameters from PyTorch ``nn.RNN`` + ``nn.Linear`` weights.

    Parameters
    ----------
    state_dict : Mapping
        Exactly the keys ``weight_ih_l0`` (H, I), ``weight_hh_l0`` (H, H),
        ``bias_ih_l0`` (H,), ``bias_hh_l0`` (H,), ``weight`` (O, H) and
        ``bias`` (O,), e.g. ``{**rnn.state_dict(), **linear.state_dict()}``
        for ``rnn = nn.RNN(I, H, batch_first=True)`` (single layer,
        unidirectional, with biases, ``nonlinearity="tanh"``: a state dict
        cannot show the nonlinearity, :func:`from_torch_modules` checks it)
        and ``linear = nn.Linear(H, O)``.  Values are NumPy arrays or array-likes,
        or tensors (anything with ``detach()`` and ``cpu()``, converted with
        ``np.asarray(t.detach().cpu())``), all float32 or all float64.

    Returns
    -------
    dict of numpy.ndarray
        ``Wax`` = weight_ih_l0, ``Waa`` = weight_hh_l0,
        ``ba`` = bias_ih_l0 + bias_hh_l0 (the two biases only ever appear
        summed), ``Wya`` = weight, ``by`` = bias: new arrays (never sharing
        memory with the tensors) in the input's dtype, ready for
        :func:`fastrnn.forward`.

    Raises
    ------
    TypeError
        For a value that is not a float32/float64 array or tensor, or mixed
        dtypes; the message names the key.
    ValueError
        For a missing or unexpected key (e.g. ``weight_ih_l1`` of a second
        layer, ``..._reverse`` of a bidirectional RNN) or inconsistent shapes;
        the message names the key.

    Notes
    -----
    Thread safety: a pure function returning fresh arrays; safe from
    several threads.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn.interop import from_torch_state_dict
    >>> rng = np.random.default_rng(0)
    >>> H, I, O = 4, 3, 2
    >>> sd = {"weight_ih_l0": rng.normal(size=(H, I)), "weight_hh_l0": rng.normal(size=(H, H)),
    ...       "bias_ih_l0": np.ones(H), "bias_hh_l0": np.full(H, 0.5),
    ...       "weight": rng.normal(size=(O, H)), "bias": np.zeros(O)}
    >>> params = from_torch_state_dict(sd)
    >>> params["ba"]
    array([1.5, 1.5, 1.5, 1.5])
    >>> params["Wax"].shape, params["Wya"].shape
    ((4, 3), (2, 4))
    >>> from_torch_state_dict({**sd, "weight_ih_l1": sd["weight_hh_l0"]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: state_dict has unexpected keys ['weight_ih_l1']; expected exactly [...] (a single-layer, unidirectional RNN with biases)
    """
    names = {k: f"state_dict[{k!r}]" for k in TORCH_KEYS}
    a = _gather(state_dict, TORCH_KEYS, "state_dict", names)
    _check_arrays(a, names, dict(zip(TORCH_KEYS, (2, 2, 1, 1, 2, 1))), _torch_shapes)
    return _params(a["weight_ih_l0"], a["weight_hh_l0"], a["bias_ih_l0"] + a["bias_hh_l0"],
                   a["weight"], a["bias"])


def from_torch_modules(rnn, linear) -> dict:
    """fastrnn parameters from a PyTorch ``nn.RNN`` and ``nn.Linear``, after
    checking that they compute fastrnn's model.

    A state dict cannot tell a ``nonlinearity="relu"`` RNN from a tanh one;
    the modules can.  Reads the modules' attributes only (PyTorch is not
    imported here).

    Parameters
    ----------
    rnn : torch.nn.RNN
        ``nonlinearity="tanh"`` (the default), ``num_layers=1``,
        ``bidirectional=False``, ``bias=True``; any ``batch_first``.
    linear : torch.nn.Linear
        ``bias=True``, ``in_features`` = the RNN's ``hidden_size``.

    Returns
    -------
    dict of numpy.ndarray
        As :func:`from_torch_state_dict` of the modules' weights as they
        compute with them (``rnn.weight_ih_l0``, ..., ``linear.weight``,
        ``linear.bias``): a ``torch.compile`` wrapper, a pruned or
        weight-normalised layer give their effective weights.  A subclass
        that overrides ``forward`` cannot be told apart.

    Raises
    ------
    ValueError
        For an LSTM, GRU or ReLU RNN, more than one layer, a bidirectional
        RNN, or a module without biases (naming the setting), and as
        :func:`from_torch_state_dict`.
    TypeError
        For objects that are not such modules, and as
        :func:`from_torch_state_dict`.

    Notes
    -----
    Thread safety: a pure function returning fresh arrays; safe from
    several threads (the modules must not be trained meanwhile).
    """
    for module, what in ((rnn, "rnn"), (linear, "linear")):
        if not callable(getattr(module, "state_dict", None)):
            raise TypeError(f"{what} must be a torch.nn module, got {type(module).__name__}")
    mode = getattr(rnn, "mode", None)
    if mode != "RNN_TANH":
        shown = "nn.RNN(nonlinearity='relu')" if mode == "RNN_RELU" else repr(mode)
        raise ValueError(
            f"rnn must be an nn.RNN with nonlinearity='tanh' (fastrnn computes "
            f"a<t> = tanh(...)), got {type(rnn).__name__} of mode {shown}")
    settings: tuple[tuple[str, object], ...] = (
        ("num_layers", 1), ("bidirectional", False), ("bias", True), ("proj_size", 0))
    for attr, want in settings:
        got = getattr(rnn, attr, want)
        if got != want:
            raise ValueError(f"rnn.{attr} = {got!r}; fastrnn's model needs {want!r}")
    if getattr(linear, "bias", None) is None:
        raise ValueError("linear has no bias (bias=False); fastrnn's output layer has one (by)")
    # the weights as the modules compute with them (attributes, not state
    # dicts: a compiled module's keys have a prefix, a pruned or
    # weight-normed layer keeps its weight as parts)
    tensors = {}
    for module, what, keys in ((rnn, "rnn", TORCH_KEYS[:4]), (linear, "linear", TORCH_KEYS[4:])):
        for k in keys:
            try:
                tensors[k] = getattr(module, k)
            except Exception as exc:   # AttributeError, or a parametrization's error
                raise ValueError(f"{what}.{k} could not be read: {exc}") from None
    return from_torch_state_dict(tensors)


# ---------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------
def _keras_shapes(s: dict):
    I, H = s["kernel"]
    O = s["dense_kernel"][1]
    return ({"kernel": (I, H), "recurrent_kernel": (H, H), "bias": (H,),
             "dense_kernel": (H, O), "dense_bias": (O,)},
            f"input size I={I} and hidden size H={H} from kernel, "
            f"output size O={O} from dense_kernel")


def to_keras_weights(params) -> dict:
    """Keras ``SimpleRNN(H)`` and ``Dense(O)`` weights (row-vector convention).

    Parameters
    ----------
    params : dict
        fastrnn parameters, as in :func:`to_torch_state_dict`.

    Returns
    -------
    dict of numpy.ndarray
        C-contiguous copies in the parameters' dtype: ``kernel`` = Wax.T
        (I, H), ``recurrent_kernel`` = Waa.T (H, H), ``bias`` = ba (H,),
        ``dense_kernel`` = Wya.T (H, O), ``dense_bias`` = by (O,).

    Raises
    ------
    TypeError, ValueError
        For parameters that :func:`fastrnn.forward` would refuse.

    Notes
    -----
    ``simple_rnn.set_weights([w["kernel"], w["recurrent_kernel"], w["bias"]])``
    and ``dense.set_weights([w["dense_kernel"], w["dense_bias"]])`` for a
    ``SimpleRNN(H, return_sequences=True)`` (default ``activation="tanh"``,
    ``use_bias=True``) followed by ``Dense(O, activation="softmax")``, fed
    one-hot inputs (B, T, I), reproduce ``fastrnn.forward``::

        h_t = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
        y_t = softmax(h_t @ dense_kernel + dense_bias)

    Thread safety: a pure function returning fresh arrays; safe from
    several threads.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> from fastrnn.interop import to_keras_weights
    >>> params = fastrnn.init_params(3, 4, 2, dtype=np.float64, seed=0)
    >>> w = to_keras_weights(params)
    >>> {k: v.shape for k, v in w.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'kernel': (3, 4), 'recurrent_kernel': (4, 4), 'bias': (4,),
     'dense_kernel': (4, 2), 'dense_bias': (2,)}

    The SimpleRNN and Dense math by hand, on the one-hot inputs of ids 2, 0:

    >>> ids = np.array([[2, 0]])
    >>> h = np.zeros(4)
    >>> for x in np.eye(3)[ids[0]]:
    ...     h = np.tanh(x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"])
    >>> z = h @ w["dense_kernel"] + w["dense_bias"]
    >>> probs, A = fastrnn.forward(params, ids)
    >>> bool(np.allclose(np.exp(z) / np.exp(z).sum(), probs[0, -1]))
    True
    """
    p = check_params(params)
    return {"kernel": np.array(p.WaxT, order="C"),
            "recurrent_kernel": np.array(p.Waa.T, order="C"),
            "bias": np.array(p.ba),
            "dense_kernel": np.array(p.Wya.T, order="C"),
            "dense_bias": np.array(p.by)}


def _as_list(value, what: str, names: Sequence[str]) -> list:
    if isinstance(value, (str, bytes, Mapping, np.ndarray)) or not isinstance(value, Sequence):
        raise TypeError(
            f"{what} must be a list [{', '.join(names)}] as returned by get_weights(), "
            f"got {type(value).__name__}")
    if len(value) != len(names):
        raise ValueError(
            f"{what} has {len(value)} arrays; expected {len(names)} [{', '.join(names)}] "
            "(a layer with use_bias=True)")
    return list(value)


def from_keras_weights(weights=None, *, rnn=None, dense=None) -> dict:
    """fastrnn parameters from Keras ``SimpleRNN`` + ``Dense`` weights.

    Give either the dict of :func:`to_keras_weights`, or the two layers'
    ``get_weights()`` lists as keyword arguments.

    Parameters
    ----------
    weights : Mapping, optional
        Exactly the keys ``kernel`` (I, H), ``recurrent_kernel`` (H, H),
        ``bias`` (H,), ``dense_kernel`` (H, O) and ``dense_bias`` (O,).
    rnn : list, optional
        ``simple_rnn.get_weights()``: ``[kernel, recurrent_kernel, bias]``.
    dense : list, optional
        ``dense.get_weights()``: ``[kernel, bias]``.

    Returns
    -------
    dict of numpy.ndarray
        ``Wax`` = kernel.T, ``Waa`` = recurrent_kernel.T, ``ba`` = bias,
        ``Wya`` = dense kernel.T, ``by`` = dense bias: new arrays in the
        input's dtype (float32 or float64), ready for :func:`fastrnn.forward`.

    Raises
    ------
    TypeError
        For a non-float or mixed dtype (naming the key or list entry), or
        arguments of the wrong kind.
    ValueError
        For a missing or unexpected key, lists of the wrong length,
        inconsistent shapes, or both or neither of `weights` and
        ``rnn``/``dense``.

    Notes
    -----
    The SimpleRNN must use the default ``activation="tanh"``; the Dense
    layer's activation should be softmax (or its logits be fed to one), as
    fastrnn's output is ``softmax(Wya a + by)``.

    Thread safety: a pure function returning fresh arrays; safe from
    several threads.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn.interop import from_keras_weights, to_keras_weights
    >>> rng = np.random.default_rng(0)
    >>> I, H, O = 3, 4, 2
    >>> kernel, recurrent, bias = rng.normal(size=(I, H)), rng.normal(size=(H, H)), np.zeros(H)
    >>> dense_kernel, dense_bias = rng.normal(size=(H, O)), np.zeros(O)
    >>> params = from_keras_weights(rnn=[kernel, recurrent, bias], dense=[dense_kernel, dense_bias])
    >>> params["Wax"].shape, bool(np.array_equal(params["Wax"], kernel.T))
    ((4, 3), True)
    >>> w = to_keras_weights(params)
    >>> bool(np.array_equal(from_keras_weights(w)["Waa"], params["Waa"]))
    True
    >>> from_keras_weights(rnn=[kernel, recurrent], dense=[dense_kernel, dense_bias])
    Traceback (most recent call last):
        ...
    ValueError: rnn has 2 arrays; expected 3 [kernel, recurrent_kernel, bias] (a layer with use_bias=True)
    """
    if weights is not None:
        if rnn is not None or dense is not None:
            raise ValueError("give either weights (a dict) or rnn= and dense= (lists), not both")
        names = {k: f"weights[{k!r}]" for k in KERAS_KEYS}
        a = _gather(weights, KERAS_KEYS, "weights", names)
    else:
        if rnn is None or dense is None:
            raise ValueError(
                "give weights (a dict from to_keras_weights), or both rnn= "
                "(simple_rnn.get_weights()) and dense= (dense.get_weights())")
        rnn_list = _as_list(rnn, "rnn", ("kernel", "recurrent_kernel", "bias"))
        dense_list = _as_list(dense, "dense", ("kernel", "bias"))
        names = {"kernel": "rnn[0] (kernel)", "recurrent_kernel": "rnn[1] (recurrent_kernel)",
                 "bias": "rnn[2] (bias)", "dense_kernel": "dense[0] (kernel)",
                 "dense_bias": "dense[1] (bias)"}
        a = {k: _to_numpy(v, names[k]) for k, v in zip(KERAS_KEYS, rnn_list + dense_list)}
    _check_arrays(a, names, dict(zip(KERAS_KEYS, (2, 2, 1, 2, 1))), _keras_shapes)
    return _params(a["kernel"].T, a["recurrent_kernel"].T, a["bias"],
                   a["dense_kernel"].T, a["dense_bias"])
