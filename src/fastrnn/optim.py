"""In-place first-order optimizers and gradient clipping.

This module depends only on NumPy (loaded on its own, outside the package,
it still works) and works on any mapping of parameter names to
floating-point arrays, e.g. the parameters of an Elman RNN (``"Wax"`` (H,
I), ``"Waa"`` (H, H), ``"ba"`` (H,), ``"Wya"`` (O, H), ``"by"`` (O,) and
optionally ``"a0"`` (H,)).

Design
------
* **In place.** Every optimizer updates the very arrays of the ``params``
  mapping given at construction (it never rebinds mapping entries), so any
  other reference to those arrays -- a model, a compiled kernel holding a
  pointer -- sees the new values.  Any memory layout works, including a
  Fortran-ordered ``"Wax"`` and gradients whose layout differs from the
  parameter's.
* **No per-step array allocation.** State buffers and one scratch buffer per
  parameter (two for the few configurations that need a second temporary)
  are allocated once at construction with :func:`numpy.empty_like`, so they
  match each parameter's shape, dtype and memory order; every step is a
  sequence of ufunc calls with ``out=``.
* **One pass where it can.** Inside the package, a parameter whose arrays
  are contiguous in one memory order (the usual case) is updated by a
  compiled loop (``fastrnn._update``) that performs the same operations in
  the same order and dtype as the ufunc calls, so it gives the same bits
  (NaNs aside: which NaN propagates may differ) in one pass and one call
  instead of up to 13: at the course's model size (8,004 parameters) an
  Adam step took 54 µs in ufunc calls, three times the training step it
  follows.  Its floating-point errors go through NumPy's error state
  (:func:`numpy.errstate`) as the ufuncs' do, named after the optimizer
  ("overflow encountered in adam"); under ``errstate(all="raise")`` the
  parameter's update is complete when the error is raised (the ufunc calls
  raise part way through it).  :func:`clip_by_value` and the squared norms
  of :func:`global_norm` run so too (a norm's last bit can then depend on
  whether the arrays are contiguous).
* **Dtype preserving.** Hyperparameters are cast to each parameter's dtype
  before use, so a float32 model is updated in float32 arithmetic and stays
  float32.
* **Serializable state.** :meth:`Optimizer.state_dict` returns a flat
  ``dict[str, numpy.ndarray]`` of numeric arrays that round-trips through
  ``numpy.savez`` / ``numpy.load(..., allow_pickle=False)``.

Gradient clipping (:func:`clip_by_value`, :func:`clip_by_global_norm`) works
in place on a mapping of gradient arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping
from numbers import Real
from typing import Any

import numpy as np

_cupdate: Any
try:  # the compiled one-pass loops (the package's extension module fastrnn._update)
    from . import _update as _cupdate
except ImportError:  # loaded on its own, outside the package: NumPy only
    _cupdate = None

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "Adam",
    "OPTIMIZERS",
    "make_optimizer",
    "clip_by_value",
    "clip_by_global_norm",
    "global_norm",
]

# Elements converted to float64 at a time when accumulating squared norms of
# non-float64 arrays (bounds the temporary memory of clip_by_global_norm).
_NORM_CHUNK = 1 << 16

#: the largest step count state_dict can store (0-d int64)
_MAX_STEP = 2**63 - 1


# ---------------------------------------------------------------------------
# argument validation helpers
# ---------------------------------------------------------------------------
def _as_real(name: str, value: Any) -> float:
    """Return ``value`` as a Python float or raise naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    return out


def _check_positive(name: str, value: Any) -> float:
    """Validate ``0 < value < inf``."""
    out = _as_real(name, value)
    if not (math.isfinite(out) and out > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return out


def _check_nonnegative(name: str, value: Any) -> float:
    """Validate ``0 <= value < inf``."""
    out = _as_real(name, value)
    if not (math.isfinite(out) and out >= 0.0):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return out


def _check_unit_interval(name: str, value: Any) -> float:
    """Validate ``0 <= value < 1``."""
    out = _as_real(name, value)
    if not (0.0 <= out < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return out


def _check_params(params: Any) -> None:
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a mapping of name -> numpy.ndarray, got {type(params).__name__}"
        )
    if len(params) == 0:
        raise ValueError("params must not be empty")
    for key, p in params.items():
        if not isinstance(key, str):
            raise TypeError(f"parameter names must be str, got {key!r}")
        if not isinstance(p, np.ndarray):
            raise TypeError(
                f"parameter {key!r} must be a numpy.ndarray, got {type(p).__name__}"
            )
        if not np.issubdtype(p.dtype, np.floating):
            raise TypeError(f"parameter {key!r} must have a floating dtype, got {p.dtype}")
        if not p.flags.writeable:
            raise ValueError(f"parameter {key!r} is read-only; optimizers update in place")


def _check_grad_mapping(grads: Any, what: str = "grads") -> None:
    if not isinstance(grads, Mapping):
        raise TypeError(
            f"{what} must be a mapping of name -> numpy.ndarray, got {type(grads).__name__}"
        )


# ---------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------
class Optimizer:
    """Base class of the in-place optimizers.

    Subclasses allocate their state in ``__init__`` (via :meth:`_zeros_like`)
    and implement :meth:`_update`.  Not meant to be instantiated directly.

    Parameters
    ----------
    params : Mapping[str, numpy.ndarray]
        Parameter arrays (floating dtype, writeable, any memory layout).  The
        optimizer keeps a reference to this mapping and to its arrays and
        updates the arrays in place.  Entries must not be rebound afterwards
        (copy new values in with ``numpy.copyto`` instead); :meth:`step`
        raises :class:`RuntimeError` if one was.
    lr : float
        Learning rate, positive and finite.

    Attributes
    ----------
    name : str
        Registry name of the optimizer (``"sgd"``, ``"adagrad"``, ``"adam"``).
    params : Mapping[str, numpy.ndarray]
        The mapping passed at construction.
    lr : float
        Learning rate; may be reassigned (e.g. by a schedule), validated.
    step_count : int
        Number of successful :meth:`step` calls (restored by
        :meth:`load_state_dict`).

    Notes
    -----
    Thread safety: step and load_state_dict update the parameters and the
    optimizer's state and scratch buffers in place, so an instance must be
    used by one thread at a time (and its parameters not read by another
    thread during a step).  Distinct optimizers over distinct parameter
    arrays are independent.
    """

    name: str = ""
    #: prefixes of the per-parameter state buffers, e.g. ("m", "v")
    _buffer_prefixes: tuple[str, ...] = ()
    #: names of the hyperparameters (besides lr) recorded in state_dict
    _hyper_names: tuple[str, ...] = ()
    #: whether steps may use the compiled one-pass loops (fastrnn._update),
    #: which give the same bits as the ufunc calls (tests turn them off to
    #: compare the two)
    _compiled: bool = _cupdate is not None

    def __init__(self, params: Mapping[str, np.ndarray], lr: float) -> None:
        if type(self) is Optimizer:
            raise TypeError("Optimizer is an abstract base class; use SGD, Adagrad or Adam")
        _check_params(params)
        self.lr = lr  # validated by the property setter
        self.params = params
        self._keys: tuple[str, ...] = tuple(params.keys())
        # references to the very arrays that are updated in place
        self._arrays: dict[str, np.ndarray] = {k: params[k] for k in self._keys}
        self._scratch: dict[str, np.ndarray] = {
            k: np.empty_like(p) for k, p in self._arrays.items()
        }
        self._state: dict[str, dict[str, np.ndarray]] = {}
        self._step_count = 0

    # -- attributes ---------------------------------------------------------
    @property
    def lr(self) -> float:
        """Learning rate (positive, finite); assignable."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check_positive("lr", value)

    @property
    def step_count(self) -> int:
        """Number of completed :meth:`step` calls."""
        return self._step_count

    def _zeros_like(self) -> dict[str, np.ndarray]:
        """One zero-filled buffer per parameter (same shape, dtype and order)."""
        out = {}
        for k, p in self._arrays.items():
            buf = np.empty_like(p)
            buf.fill(0)
            out[k] = buf
        return out

    def _hyperparameters(self) -> dict[str, float | bool]:
        return {n: getattr(self, n) for n in self._hyper_names}

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters().items())
        sep = ", " if hp else ""
        return f"{type(self).__name__}(lr={self.lr!r}{sep}{hp}, params={list(self._keys)})"

    # -- stepping -------------------------------------------------------------
    def _check_grads(self, grads: Mapping[str, np.ndarray]) -> None:
        _check_grad_mapping(grads)
        for k in self._keys:
            if self.params.get(k) is not self._arrays[k]:  # type: ignore[union-attr]
                raise RuntimeError(
                    f"parameter {k!r} was rebound in the params mapping after the "
                    "optimizer was created; the optimizer updates the original arrays "
                    "in place (use numpy.copyto to load new values, or create a new "
                    "optimizer)"
                )
            if k not in grads:
                raise ValueError(f"grads is missing the gradient of parameter {k!r}")
            g = grads[k]
            p = self._arrays[k]
            if not isinstance(g, np.ndarray):
                raise TypeError(
                    f"gradient {k!r} must be a numpy.ndarray, got {type(g).__name__}"
                )
            if g.shape != p.shape:
                raise ValueError(
                    f"gradient {k!r} has shape {g.shape}, expected {p.shape} "
                    "(the parameter's shape)"
                )
            if g.dtype != p.dtype:
                raise TypeError(
                    f"gradient {k!r} has dtype {g.dtype}, expected {p.dtype} "
                    "(the parameter's dtype)"
                )

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Apply one update to every parameter, in place.

        Parameters
        ----------
        grads : Mapping[str, numpy.ndarray]
            Gradient of the loss with respect to each parameter; must contain
            every key of ``params`` with the same shape and dtype (any memory
            layout).  Extra keys (e.g. ``"a0"`` when the initial state is not
            a learned parameter) are ignored.  ``grads`` is not modified.

        Raises
        ------
        ValueError
            If a gradient is missing or has the wrong shape.
        TypeError
            If a gradient is not an ndarray or its dtype differs from the
            parameter's.
        RuntimeError
            If an entry of ``params`` was rebound after construction.
        OverflowError
            If the step count would pass 2**63 - 1 (a loaded state's
            ``"step"`` that large), before anything is modified.

        Notes
        -----
        All gradients are validated before any parameter is modified, so a
        failed call leaves parameters and state untouched.  Non-finite
        gradients are not checked for (see :func:`clip_by_global_norm`).
        """
        self._check_grads(grads)
        t = self._step_count + 1
        if t > _MAX_STEP:
            raise OverflowError(
                f"step count {t} would not fit state_dict's int64 (at most {_MAX_STEP})")
        self._update(grads, t)
        self._step_count = t

    def _update(self, grads: Mapping[str, np.ndarray], t: int) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- (de)serialization ----------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Return a copy of the optimizer state as a flat dict of arrays.

        Returns
        -------
        dict[str, numpy.ndarray]
            ``"step"`` (0-d int64), ``"lr"`` and the other hyperparameters
            (0-d float64; ``"nesterov"`` is 0-d bool) and one entry
            ``"<buffer>.<param>"`` per state buffer (e.g. ``"m.Wax"``), a copy
            with the parameter's dtype and layout.  Only numeric arrays, so
            the result can be written with ``numpy.savez`` and read back with
            ``numpy.load(..., allow_pickle=False)``.
        """
        out: dict[str, np.ndarray] = {
            "step": np.array(self._step_count, dtype=np.int64),
            "lr": np.array(self._lr, dtype=np.float64),
        }
        for n, v in self._hyperparameters().items():
            out[n] = np.array(v, dtype=np.bool_ if isinstance(v, bool) else np.float64)
        for prefix in self._buffer_prefixes:
            for k, buf in self._state[prefix].items():
                out[f"{prefix}.{k}"] = buf.copy(order="K")
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict`, in place.

        ``step``, ``lr`` and the state buffers are restored (buffers are
        copied into the existing arrays).  The other hyperparameters are part
        of the optimizer's configuration: they must equal this optimizer's
        (construct it with the same arguments).

        Parameters
        ----------
        state : Mapping[str, array_like]
            E.g. the result of :meth:`state_dict` or an ``NpzFile`` from
            ``numpy.load``.

        Raises
        ------
        ValueError
            Naming the offending key, if a key is missing or unexpected, a
            shape or dtype is wrong, a value is invalid, or a hyperparameter
            differs from this optimizer's.  Nothing is modified in that case.
        """
        if not isinstance(state, Mapping) and not hasattr(state, "keys"):
            raise TypeError(f"state must be a mapping, got {type(state).__name__}")
        expected = self.state_dict()
        given = set(state.keys())
        missing = [k for k in expected if k not in given]
        if missing:
            raise ValueError(f"state is missing key(s) {missing} for {type(self).__name__}")
        unexpected = sorted(k for k in given if k not in expected)
        if unexpected:
            raise ValueError(f"state has unexpected key(s) {unexpected} for {type(self).__name__}")

        values = {k: np.asarray(state[k]) for k in expected}

        # scalars -------------------------------------------------------------
        step = values["step"]
        if step.shape != () or not np.issubdtype(step.dtype, np.integer):
            raise ValueError(
                f"state key 'step' must be a 0-d integer array, got shape {step.shape} "
                f"dtype {step.dtype}"
            )
        new_step = int(step)
        if not 0 <= new_step <= _MAX_STEP:
            raise ValueError(
                f"state key 'step' must be in [0, {_MAX_STEP}] (state_dict's int64), "
                f"got {new_step}")
        lr = values["lr"]
        if lr.shape != () or not np.issubdtype(lr.dtype, np.floating):
            raise ValueError(
                f"state key 'lr' must be a 0-d float array, got shape {lr.shape} dtype {lr.dtype}"
            )
        new_lr = float(lr)
        if not (math.isfinite(new_lr) and new_lr > 0.0):
            raise ValueError(f"state key 'lr' must be positive and finite, got {new_lr}")
        for n, mine in self._hyperparameters().items():
            v = values[n]
            if v.shape != () or v.dtype != expected[n].dtype:
                raise ValueError(
                    f"state key {n!r} must be a 0-d {expected[n].dtype} array, got shape "
                    f"{v.shape} dtype {v.dtype}"
                )
            theirs = v.item()
            if theirs != mine:
                raise ValueError(
                    f"state key {n!r} is {theirs!r} but this optimizer has {n}={mine!r}; "
                    "construct the optimizer with the same hyperparameters"
                )
        # buffers -------------------------------------------------------------
        for prefix in self._buffer_prefixes:
            for k, buf in self._state[prefix].items():
                key = f"{prefix}.{k}"
                v = values[key]
                if v.shape != buf.shape:
                    raise ValueError(
                        f"state key {key!r} has shape {v.shape}, expected {buf.shape}"
                    )
                if v.dtype != buf.dtype:
                    raise ValueError(
                        f"state key {key!r} has dtype {v.dtype}, expected {buf.dtype}"
                    )
        # all valid: commit -----------------------------------------------------
        for prefix in self._buffer_prefixes:
            for k, buf in self._state[prefix].items():
                np.copyto(buf, values[f"{prefix}.{k}"])
        self._step_count = new_step
        self._lr = new_lr


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum.

    Follows PyTorch's ``torch.optim.SGD`` (with ``dampening=0``).  For each
    parameter :math:`p` with gradient :math:`g`, learning rate
    :math:`\eta`, momentum :math:`\mu` and weight decay :math:`\lambda`:

    .. math::

        d &= g + \lambda p \\
        v &\leftarrow \mu v + d \qquad (v_0 = 0) \\
        p &\leftarrow p - \eta\, u, \qquad
        u = \begin{cases} d & \mu = 0 \\ v & \text{classical momentum} \\
        d + \mu v & \text{Nesterov} \end{cases}

    Parameters
    ----------
    params : Mapping[str, numpy.ndarray]
        Parameter arrays, updated in place (see :class:`Optimizer`).
    lr : float, default 0.01
        Learning rate :math:`\eta > 0`.
    momentum : float, default 0.0
        Momentum factor :math:`\mu \in [0, 1)`.  With ``0`` no velocity
        buffer is allocated.
    nesterov : bool, default False
        Use Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float, default 0.0
        L2 penalty :math:`\lambda \ge 0` added to the gradient.

    Notes
    -----
    Thread safety: step and load_state_dict update the parameters and the
    optimizer's state and scratch buffers in place, so an instance must be
    used by one thread at a time (and its parameters not read by another
    thread during a step).  Distinct optimizers over distinct parameter
    arrays are independent.

    Examples
    --------
    >>> import numpy as np
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> opt = SGD(p, lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.step({"w": np.array([1.0, -1.0])})
    >>> p["w"]  # v1 = g, v2 = 0.9 g + g = 1.9 g; p = p0 - 0.1 (v1 + v2)
    array([0.71, 2.29])
    """

    name = "sgd"
    _hyper_names = ("momentum", "nesterov", "weight_decay")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self._momentum = _check_unit_interval("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov must be a bool, got {nesterov!r}")
        self._nesterov = bool(nesterov)
        if self._nesterov and self._momentum == 0.0:
            raise ValueError("nesterov=True requires momentum > 0, got momentum=0.0")
        self._weight_decay = _check_nonnegative("weight_decay", weight_decay)
        super().__init__(params, lr)
        if self._momentum != 0.0:
            self._buffer_prefixes = ("v",)
            self._state["v"] = self._zeros_like()
        # Nesterov with weight decay needs d = g + wd*p and u = d + mu*v at once
        self._scratch2 = (
            {k: np.empty_like(p) for k, p in self._arrays.items()}
            if self._nesterov and self._weight_decay != 0.0
            else None
        )

    @property
    def momentum(self) -> float:
        """Momentum factor (read-only)."""
        return self._momentum

    @property
    def nesterov(self) -> bool:
        """Whether Nesterov momentum is used (read-only)."""
        return self._nesterov

    @property
    def weight_decay(self) -> float:
        """L2 weight decay (read-only)."""
        return self._weight_decay

    def _update(self, grads: Mapping[str, np.ndarray], t: int) -> None:
        mu, wd = self._momentum, self._weight_decay
        v_state = self._state.get("v")
        for k in self._keys:
            p = self._arrays[k]
            g = grads[k]
            if self._compiled and _cupdate is not None and _cupdate.sgd(
                    p, g, None if v_state is None else v_state[k], self._lr, mu,
                    self._nesterov, wd):
                continue
            buf = self._scratch[k]
            dt = p.dtype.type
            # d = g + wd * p
            if wd != 0.0:
                d = self._scratch2[k] if self._scratch2 is not None else buf
                np.multiply(p, dt(wd), out=d)
                np.add(d, g, out=d)
            else:
                d = g
            # u = update direction
            if mu != 0.0:
                v = self._state["v"][k]
                np.multiply(v, dt(mu), out=v)
                np.add(v, d, out=v)
                if self._nesterov:
                    np.multiply(v, dt(mu), out=buf)
                    np.add(buf, d, out=buf)
                    u = buf
                else:
                    u = v
            else:
                u = d
            # p -= lr * u
            np.multiply(u, dt(self._lr), out=buf)
            np.subtract(p, buf, out=p)


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate learning rates from accumulated squared gradients.

    .. math::

        G &\leftarrow G + g \odot g \qquad (G_0 = 0) \\
        p &\leftarrow p - \eta\, \frac{g}{\sqrt{G} + \epsilon}

    (PyTorch's ``torch.optim.Adagrad`` with ``lr_decay=0``,
    ``weight_decay=0``, ``initial_accumulator_value=0``.)

    Parameters
    ----------
    params : Mapping[str, numpy.ndarray]
        Parameter arrays, updated in place (see :class:`Optimizer`).
    lr : float, default 0.01
        Learning rate :math:`\eta > 0`.
    eps : float, default 1e-8
        :math:`\epsilon > 0` added to the denominator.

    Notes
    -----
    Thread safety: step and load_state_dict update the parameters and the
    optimizer's state and scratch buffers in place, so an instance must be
    used by one thread at a time (and its parameters not read by another
    thread during a step).  Distinct optimizers over distinct parameter
    arrays are independent.

    Examples
    --------
    >>> import numpy as np
    >>> p = {"w": np.array([1.0, 1.0])}
    >>> opt = Adagrad(p, lr=0.5)
    >>> opt.step({"w": np.array([3.0, -4.0])})  # first step moves by lr*sign(g)
    >>> np.round(p["w"], 6)
    array([0.5, 1.5])
    """

    name = "adagrad"
    _buffer_prefixes = ("G",)
    _hyper_names = ("eps",)

    def __init__(
        self, params: Mapping[str, np.ndarray], lr: float = 0.01, eps: float = 1e-8
    ) -> None:
        self._eps = _check_positive("eps", eps)
        super().__init__(params, lr)
        self._state["G"] = self._zeros_like()

    @property
    def eps(self) -> float:
        """Denominator offset (read-only)."""
        return self._eps

    def _update(self, grads: Mapping[str, np.ndarray], t: int) -> None:
        for k in self._keys:
            p = self._arrays[k]
            g = grads[k]
            G = self._state["G"][k]
            if self._compiled and _cupdate is not None and _cupdate.adagrad(
                    p, g, G, self._lr, self._eps):
                continue
            buf = self._scratch[k]
            dt = p.dtype.type
            np.multiply(g, g, out=buf)
            np.add(G, buf, out=G)
            np.sqrt(G, out=buf)
            np.add(buf, dt(self._eps), out=buf)
            np.divide(g, buf, out=buf)
            np.multiply(buf, dt(self._lr), out=buf)
            np.subtract(p, buf, out=p)


class Adam(Optimizer):
    r"""Adam with bias correction (PyTorch's ``torch.optim.Adam`` formulas).

    At step :math:`t = 1, 2, \dots` with :math:`m_0 = v_0 = 0`:

    .. math::

        d &= g + \lambda p \\
        m &\leftarrow \beta_1 m + (1 - \beta_1)\, d \\
        v &\leftarrow \beta_2 v + (1 - \beta_2)\, d \odot d \\
        p &\leftarrow p - \frac{\eta}{1 - \beta_1^t}\,
             \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}

    Weight decay is the classic L2 penalty added to the gradient (not AdamW's
    decoupled decay), as in ``torch.optim.Adam(weight_decay=...)``.

    Parameters
    ----------
    params : Mapping[str, numpy.ndarray]
        Parameter arrays, updated in place (see :class:`Optimizer`).
    lr : float, default 1e-3
        Learning rate :math:`\eta > 0`.
    betas : tuple of float, default (0.9, 0.999)
        Decay rates :math:`(\beta_1, \beta_2)`, each in ``[0, 1)``.
    eps : float, default 1e-8
        :math:`\epsilon > 0` added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty :math:`\lambda \ge 0`.

    Notes
    -----
    Thread safety: step and load_state_dict update the parameters and the
    optimizer's state and scratch buffers in place, so an instance must be
    used by one thread at a time (and its parameters not read by another
    thread during a step).  Distinct optimizers over distinct parameter
    arrays are independent.

    Examples
    --------
    >>> import numpy as np
    >>> p = {"w": np.array([1.0, 1.0])}
    >>> opt = Adam(p, lr=0.1)
    >>> for _ in range(3):  # constant gradient: each step moves by ~lr*sign(g)
    ...     opt.step({"w": np.array([0.5, -2.0])})
    >>> np.round(p["w"], 6)
    array([0.7, 1.3])
    """

    name = "adam"
    _buffer_prefixes = ("m", "v")
    _hyper_names = ("beta1", "beta2", "eps", "weight_decay")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self._beta1 = _check_unit_interval("betas[0]", b1)
        self._beta2 = _check_unit_interval("betas[1]", b2)
        self._eps = _check_positive("eps", eps)
        self._weight_decay = _check_nonnegative("weight_decay", weight_decay)
        super().__init__(params, lr)
        self._state["m"] = self._zeros_like()
        self._state["v"] = self._zeros_like()
        # with weight decay, d = g + wd*p must live while m and v are updated
        self._scratch2 = (
            {k: np.empty_like(p) for k, p in self._arrays.items()}
            if self._weight_decay != 0.0
            else None
        )

    @property
    def betas(self) -> tuple[float, float]:
        """``(beta1, beta2)`` (read-only)."""
        return (self._beta1, self._beta2)

    @property
    def beta1(self) -> float:
        """First-moment decay rate (read-only)."""
        return self._beta1

    @property
    def beta2(self) -> float:
        """Second-moment decay rate (read-only)."""
        return self._beta2

    @property
    def eps(self) -> float:
        """Denominator offset (read-only)."""
        return self._eps

    @property
    def weight_decay(self) -> float:
        """L2 weight decay (read-only)."""
        return self._weight_decay

    def _update(self, grads: Mapping[str, np.ndarray], t: int) -> None:
        b1, b2, wd = self._beta1, self._beta2, self._weight_decay
        bias_correction1 = 1.0 - b1**t
        bias_correction2_sqrt = math.sqrt(1.0 - b2**t)
        step_size = self._lr / bias_correction1
        for k in self._keys:
            p = self._arrays[k]
            g = grads[k]
            m = self._state["m"][k]
            v = self._state["v"][k]
            if self._compiled and _cupdate is not None and _cupdate.adam(
                    p, g, m, v, b1, b2, self._eps, wd, step_size, bias_correction2_sqrt):
                continue
            buf = self._scratch[k]
            dt = p.dtype.type
            if wd != 0.0:
                d = self._scratch2[k]  # type: ignore[index]
                np.multiply(p, dt(wd), out=d)
                np.add(d, g, out=d)
            else:
                d = g
            # m = b1*m + (1-b1)*d
            np.multiply(m, dt(b1), out=m)
            np.multiply(d, dt(1.0 - b1), out=buf)
            np.add(m, buf, out=m)
            # v = b2*v + (1-b2)*d*d
            np.multiply(v, dt(b2), out=v)
            np.multiply(d, d, out=buf)
            np.multiply(buf, dt(1.0 - b2), out=buf)
            np.add(v, buf, out=v)
            # denom = sqrt(v)/sqrt(bc2) + eps ; p -= step_size * m / denom
            np.sqrt(v, out=buf)
            np.divide(buf, dt(bias_correction2_sqrt), out=buf)
            np.add(buf, dt(self._eps), out=buf)
            np.divide(m, buf, out=buf)
            np.multiply(buf, dt(step_size), out=buf)
            np.subtract(p, buf, out=p)


#: Registry used by :func:`make_optimizer`.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam}


def make_optimizer(name: str, params: Mapping[str, np.ndarray], **kwargs: Any) -> Optimizer:
    """Create an optimizer by name.

    Parameters
    ----------
    name : {"sgd", "adagrad", "adam"}
        Optimizer name (case-insensitive).
    params : Mapping[str, numpy.ndarray]
        Parameter arrays, updated in place.
    **kwargs
        Hyperparameters forwarded to the optimizer's constructor.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or an invalid
        hyperparameter.

    Notes
    -----
    Thread safety: safe to call from several threads; the optimizer
    returned is not (see :class:`Optimizer`).

    Examples
    --------
    >>> import numpy as np
    >>> opt = make_optimizer("adam", {"w": np.zeros(3)}, lr=0.01)
    >>> opt.name, opt.lr
    ('adam', 0.01)
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        valid = ", ".join(repr(n) for n in OPTIMIZERS)
        raise ValueError(f"unknown optimizer {name!r}; valid names are {valid}")
    return OPTIMIZERS[key](params, **kwargs)


# ---------------------------------------------------------------------------
# gradient clipping
# ---------------------------------------------------------------------------
def _scale(arrays: Iterable[np.ndarray], s: float) -> None:
    """``np.multiply(a, a.dtype.type(s), out=a)`` for each array, by one
    compiled pass where it takes the array (the same bits)."""
    for a in arrays:
        if _cupdate is None or not _cupdate.scale(a, s):
            np.multiply(a, a.dtype.type(s), out=a)


def _check_float_array(key: str, g: Any, write: bool = False) -> np.ndarray:
    if not isinstance(g, np.ndarray):
        raise TypeError(f"gradient {key!r} must be a numpy.ndarray, got {type(g).__name__}")
    if g.dtype.kind != "f":  # np.issubdtype(g.dtype, np.floating), 8x faster
        raise TypeError(f"gradient {key!r} must have a floating dtype, got {g.dtype}")
    if write and not g.flags.writeable:
        raise ValueError(f"gradient {key!r} is read-only; clipping modifies it in place")
    return g


def clip_by_value(
    grads: MutableMapping[str, np.ndarray], clip: float
) -> MutableMapping[str, np.ndarray]:
    """Clip every gradient element to ``[-clip, clip]``, in place.

    Parameters
    ----------
    grads : MutableMapping[str, numpy.ndarray]
        Gradient arrays (floating dtype, writeable); modified in place.
        NaNs are left as NaN.
    clip : float
        Positive, finite bound (e.g. ``5.0``).

    Returns
    -------
    MutableMapping[str, numpy.ndarray]
        ``grads`` itself (same arrays).

    Notes
    -----
    Thread safety: modifies `grads` in place; safe from several threads as
    long as each passes its own gradient arrays.

    Examples
    --------
    >>> import numpy as np
    >>> g = {"w": np.array([-7.0, 0.5, 12.0])}
    >>> clip_by_value(g, 5.0)["w"]
    array([-5. ,  0.5,  5. ])
    """
    c = _check_positive("clip", clip)
    _check_grad_mapping(grads)
    arrays = [_check_float_array(k, g, write=True) for k, g in grads.items()]
    for g in arrays:
        if _cupdate is not None and _cupdate.clip(g, c):  # the same, in one compiled pass
            continue
        bound = g.dtype.type(c)
        np.clip(g, -bound, bound, out=g)
    return grads


def _dot(c: np.ndarray) -> float:
    """sum(c * c) without BLAS: OpenBLAS runs a long ddot on all its threads,
    which then spin for a while and compete with fastrnn's own threads in the
    next training step (a training step on two threads measured no faster
    than on one until the norm stopped calling BLAS)."""
    return float(np.einsum("i,i->", c, c))


def _array_norm(g: np.ndarray) -> float:
    """L2 norm of one array accumulated in float64, robust to over/underflow."""
    if g.size == 0:
        return 0.0
    s = _cupdate.sumsq(g) if _cupdate is not None else None
    if s is not None and g.dtype == np.float32:
        return math.sqrt(s)  # squares of float32 values: no overflow, no underflow
    r = g.ravel(order="K")  # a view for C- or F-contiguous arrays
    if r.dtype == np.float64:
        if s is None:
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                s = _dot(r)
        # fast path unless overflow, NaN, or possible underflow of the squares
        if math.isfinite(s) and s > 1e-280:
            return math.sqrt(s)
        scale = float(np.max(np.abs(r)))
        if not math.isfinite(scale) or scale == 0.0:
            return scale  # nan, inf or 0
        s = 0.0
        for i in range(0, r.size, _NORM_CHUNK):
            c = r[i : i + _NORM_CHUNK] / scale
            s += _dot(c)
        return scale * math.sqrt(s)
    # float16 / float32 (/ longdouble): square in float64, chunk by chunk;
    # squares of float32 values cannot overflow or underflow in float64
    s = 0.0
    for i in range(0, r.size, _NORM_CHUNK):
        c = r[i : i + _NORM_CHUNK].astype(np.float64)
        s += _dot(c)
    if math.isinf(s) and r.dtype.itemsize > 8:  # longdouble beyond float64 range
        scale = float(np.max(np.abs(r)))
        if math.isinf(scale) or math.isnan(scale):
            return scale
        s = 0.0
        for i in range(0, r.size, _NORM_CHUNK):
            c = (r[i : i + _NORM_CHUNK] / scale).astype(np.float64)
            s += _dot(c)
        return scale * math.sqrt(s)
    return math.sqrt(s)


def _combine_norms(norms: list[float]) -> float:
    """``sqrt(sum(n**2))`` without overflow; NaN wins over inf."""
    if not norms:
        return 0.0
    if any(map(math.isnan, norms)):
        return math.nan
    big = max(norms)
    if math.isinf(big):
        return math.inf
    if big == 0.0:
        return 0.0
    return big * math.sqrt(math.fsum([(n / big) ** 2 for n in norms]))


def _refuse_shared(grads: Mapping[str, np.ndarray], what: str) -> None:
    """ValueError naming two keys of `grads` whose arrays share memory (the
    same array twice, or overlapping views): scaled once per key, their
    shared elements would be scaled twice.  ~0.8 µs for six arrays that
    share nothing (k log k for k arrays apart)."""
    keys = list(grads)
    arrays = list(grads.values())
    if _cupdate is not None:
        pairs = _cupdate.overlapping(arrays)   # byte extents overlap: maybe shared
    else:
        pairs = [(i, j) for i in range(len(arrays)) for j in range(i + 1, len(arrays))
                 if np.may_share_memory(arrays[i], arrays[j])]
    for i, j in pairs:
        if np.shares_memory(arrays[i], arrays[j]):   # exact
            raise ValueError(
                f"{what}: gradients {keys[i]!r} and {keys[j]!r} share memory, so "
                f"their common elements would be scaled twice; pass each array once")


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """Global L2 norm ``sqrt(sum_k ||grads[k]||^2)`` over all arrays.

    Accumulated in float64 (float32 arrays are squared in float64), and
    rescaled by the largest magnitude when float64 squares would overflow
    or underflow.  Returns ``nan`` if any element is NaN, else ``inf`` if any
    is infinite.  Every key counts: an array under two keys (or two views
    of the same memory) counts twice, as in the norm of all the mapping's
    arrays concatenated.

    Notes
    -----
    Thread safety: reads `grads` only; safe from several threads (the
    arrays must not be written meanwhile).

    Examples
    --------
    >>> import numpy as np
    >>> global_norm({"a": np.array([3.0]), "b": np.array([[4.0]], dtype=np.float32)})
    5.0
    """
    _check_grad_mapping(grads)
    return _combine_norms([_array_norm(_check_float_array(k, g)) for k, g in grads.items()])


def clip_by_global_norm(grads: MutableMapping[str, np.ndarray], max_norm: float) -> float:
    r"""Rescale all gradients so that their global L2 norm is at most ``max_norm``.

    With :math:`N = \sqrt{\sum_k \lVert g_k \rVert_2^2}` over all arrays of
    ``grads``: if :math:`N > \text{max\_norm}`, every gradient is multiplied
    in place by :math:`\text{max\_norm} / N` (direction unchanged; the new
    norm equals ``max_norm`` up to rounding); otherwise nothing changes.

    Parameters
    ----------
    grads : MutableMapping[str, numpy.ndarray]
        Gradient arrays (floating dtype, writeable; every key is included in
        the norm); modified in place.  No two may share memory (the same
        array under two keys, overlapping views): that is a ``ValueError``,
        since the shared elements would be scaled twice.
    max_norm : float
        Positive, finite threshold.

    Returns
    -------
    float
        The global norm *before* clipping (see :func:`global_norm`).

    Notes
    -----
    **Non-finite policy:** if the norm is ``inf`` or ``nan`` (some gradient
    element is non-finite), the gradients are left unchanged and the
    non-finite norm is returned, so the caller can detect it (e.g. skip the
    update with ``if not math.isfinite(norm)``) instead of silently zeroing
    or NaN-filling every gradient.

    Unlike ``torch.nn.utils.clip_grad_norm_`` no ``1e-6`` is added to the
    norm in the scale factor.

    Thread safety: modifies `grads` in place; safe from several threads as
    long as each passes its own gradient arrays.

    Examples
    --------
    >>> import numpy as np
    >>> g = {"a": np.array([3.0, 0.0]), "b": np.array([4.0])}
    >>> clip_by_global_norm(g, 1.0)
    5.0
    >>> g["a"], g["b"]
    (array([0.6, 0. ]), array([0.8]))
    """
    m = _check_positive("max_norm", max_norm)
    norm = global_norm(grads)
    _refuse_shared(grads, "clip_by_global_norm")
    if not math.isfinite(norm) or norm <= m:
        return norm
    for k, g in grads.items():   # all checked before any is scaled
        _check_float_array(k, g, write=True)
    # scale = m / norm, applied in each array's dtype; if it is subnormal (or
    # zero) in that dtype, apply it as two factors sqrt(m)/sqrt(norm) instead
    half = math.sqrt(m) / math.sqrt(norm)
    scale = m / norm
    for g in grads.values():
        dt = g.dtype.type
        if dt(scale) >= np.finfo(g.dtype).tiny:
            _scale((g,), scale)
        else:
            np.multiply(g, dt(half), out=g)
            np.multiply(g, dt(half), out=g)
    return norm
