"""Language models: an Elman RNN over a :class:`~fastrnn.Vocabulary`.

:class:`LanguageModel` wraps the numerical contract (:func:`fastrnn.init_params`,
:func:`fastrnn.forward`, :func:`fastrnn.loss_and_grads`) into the
fit / loss / sample / save / load workflow of the course's notebooks, trained
with truncated backpropagation through time over parallel streams
(:class:`fastrnn.data.TBPTTBatches`).
"""
from __future__ import annotations

import hashlib
import math
import numbers
import signal
import sys
import threading
import time
from typing import Literal, cast

import numpy as np

from . import optim
from ._api import forward, init_params, loss_and_grads
from ._util import check_int
from ._validate import PARAM_KEYS, FastRNNIndexError, check_float_dtype
from .checkpoint import load_checkpoint, save_checkpoint
from .data import TBPTTBatches, as_ids
from .sampling import sample as sample_ids
from .vocab import Vocabulary

__all__ = ["LanguageModel", "INIT_STATES"]

#: Accepted values of ``init_state``.
INIT_STATES = ("zeros", "random", "learned")
_CLIP_MODES = ("norm", "value")
# evaluation: streams of at least this many tokens, at most this many streams
_EVAL_MIN_STREAM = 256
_EVAL_MAX_STREAMS = 32
# evaluation: probabilities held at once by forward (B*T*V elements)
_EVAL_MAX_PROBS = 1 << 22


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _positive_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return x


def _real(value, name: str, none_ok: bool = False) -> float | None:
    if value is None and none_ok:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _saved_fit(fit_config, history, where: str) -> tuple[dict, list]:
    """The fit settings and history a checkpoint holds, checked (they come
    back as the defaults of a resumed `fastrnn train` and as its plot), or a
    ValueError naming the file."""
    try:
        if not isinstance(fit_config, dict):
            raise TypeError(f"the fit settings must be a JSON object, got {fit_config!r}")
        cfg: dict[str, int | float | str | None] = {}
        for key, value in fit_config.items():
            if key in ("seq_len", "batch_size"):
                cfg[key] = check_int(value, key)
            elif key == "lr":
                cfg[key] = _positive_float(value, key)
            elif key == "clip":
                cfg[key] = None if value is None else _positive_float(value, key)
            elif key == "clip_mode":
                if not isinstance(value, str) or value not in _CLIP_MODES:
                    raise ValueError(f"clip_mode must be 'norm' or 'value', got {value!r}")
                cfg[key] = value
            elif key == "optimizer":
                if not isinstance(value, str) or value not in optim.OPTIMIZERS:
                    raise ValueError(f"unknown optimizer {value!r}")
                cfg[key] = value
            # other keys (a later fastrnn's) are not used here, and fit
            # writes the settings anew
        if not isinstance(history, list):
            raise TypeError(f"the history must be a JSON list, got {history!r}")
        for i, h in enumerate(history):
            if not isinstance(h, dict):
                raise TypeError(f"history[{i}] must be a JSON object, got {h!r}")
            check_int(h.get("step"), f"history[{i}]['step']", minimum=0)
            _real(h.get("train_loss"), f"history[{i}]['train_loss']")
            for k in ("val_loss", "tokens_per_sec", "elapsed"):
                _real(h.get(k), f"history[{i}][{k!r}]", none_ok=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where!r}: invalid training state in checkpoint: {exc}") from None
    return cfg, list(history)


def _data_key(ids: np.ndarray, batch_size: int, seq_len: int) -> str:
    """Identifies the training data and its cut, so that fit resumes mid-pass."""
    h = hashlib.blake2b(ids.astype("<i8", copy=False).tobytes(), digest_size=16)
    return f"{h.hexdigest()}:{ids.size}:{batch_size}:{seq_len}"


class _DeferredInterrupt:
    """Delays Ctrl-C until the end of the current training step.

    A KeyboardInterrupt in the middle of an optimizer update would leave some
    parameters updated and others not; with this, the first Ctrl-C sets a
    flag that the loop checks after each step, and a second one interrupts at
    once.  Active only in the main thread with Python's default handler.
    """

    def __init__(self):
        self.hit = False
        self._old = None

    def _handler(self, signum, frame):
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


class _Progress:
    """A tqdm bar (when asked for and installed), else a line per evaluation."""

    def __init__(self, enabled: bool, start: int, total: int):
        self.enabled = enabled
        self.bar = None
        self.postfix: dict[str, str] = {}
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=start + total, initial=start, unit="step", desc="training",
                        dynamic_ncols=True, file=sys.stderr)

    def step(self, running_loss: float | None):
        if self.bar is None:
            return
        self.bar.update(1)
        if running_loss is not None:
            self.postfix["loss"] = f"{running_loss:.3f}"
            self.bar.set_postfix(self.postfix, refresh=False)

    def evaluated(self, info: dict):
        if not self.enabled:
            return
        if info["val_loss"] is not None:
            self.postfix["val"] = f"{info['val_loss']:.3f}"
        self.postfix["loss"] = f"{info['train_loss']:.3f}"
        self.postfix["tok/s"] = f"{info['tokens_per_sec']:,.0f}"
        if self.bar is not None:
            self.bar.set_postfix(self.postfix)
        else:
            val = "" if info["val_loss"] is None else f", held-out loss {info['val_loss']:.4f}"
            print(f"step {info['step']}: train loss {info['train_loss']:.4f}{val}, "
                  f"{info['tokens_per_sec']:,.0f} tokens/s", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
class LanguageModel:
    """A character- or word-level language model: an Elman RNN and its vocabulary.

    ``a<t> = tanh(Waa a<t-1> + Wax x<t> + ba)``,
    ``ŷ<t> = softmax(Wya a<t> + by)``, predicting token ``t+1`` from tokens
    ``1..t``.  Trained with truncated backpropagation through time on the
    Cython kernels (:func:`fastrnn.loss_and_grads`), with the optimizers and
    clipping of :mod:`fastrnn.optim`.

    Parameters
    ----------
    vocab : Vocabulary
        Maps text to ids; V = ``len(vocab)`` is the input and output size.
    hidden_size : int, default 128
        H, the size of the hidden state.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Compute dtype of the parameters and of every kernel call.
    seed : int or None, default None
        Seeds the parameter initialisation (and the random initial state);
        the same seed gives bit-identical parameters, and since training is
        deterministic (sequential windows, no dropout), bit-identical
        training with the same BLAS thread setting.  ``None`` draws fresh entropy.
    init_state : {"zeros", "random", "learned"}, default "zeros"
        The state ``a<0>`` each stream starts from at the beginning of every
        pass over the data, at evaluation and at sampling: zeros (as in the
        course); a fixed random vector drawn from U(-1, 1) at construction;
        or a learned vector (zeros at first), trained with the other
        parameters through ``grads["a0"]``; only the first window of each
        pass starts from it, so its gradient is zero on the other windows.

    Attributes
    ----------
    vocab : Vocabulary
    params : dict of numpy.ndarray
        ``Wax`` (H, V), ``Waa`` (H, H), ``ba`` (H,), ``Wya`` (V, H),
        ``by`` (V,), updated in place by training.
    a0 : numpy.ndarray
        (H,) initial state (see `init_state`).
    hidden_size : int
    dtype : numpy.dtype
    init_state : str
    step_ : int
        Training steps (windows) taken so far, over all calls to :meth:`fit`.
    history_ : list of dict
        One ``info`` dict per evaluation (see :meth:`fit`).

    See Also
    --------
    fastrnn.data.TBPTTBatches : How the training data is cut into windows.

    Notes
    -----
    Thread safety: fit mutates the model (parameters, optimizer state,
    position in the data), so an instance must not be fitted from two
    threads at once, nor read (loss, perplexity, sample, hidden_states,
    save) while another thread fits it.  Without a fit running, those may
    run on one instance from several threads at once.
    Distinct instances share nothing: threads may each fit or sample their
    own model concurrently (the kernels release the GIL), with the results
    of a serial run.

    Examples
    --------
    >>> from fastrnn import Vocabulary
    >>> from fastrnn.models import LanguageModel
    >>> text = "the cat sat on the mat. " * 40
    >>> lm = LanguageModel(Vocabulary.from_text(text), hidden_size=32, seed=0)
    >>> lm
    LanguageModel(vocab_size=12, hidden_size=32, level='char', dtype='float32', init_state='zeros', step=0)
    >>> lm = lm.fit(text, steps=150, seq_len=16, batch_size=4, lr=0.01)
    >>> lm.step_
    150
    >>> bool(lm.perplexity(text) < 2.0)   # from 12 (uniform) to < 2
    True
    >>> lm.sample(24, prime="the ", seed=0, temperature=0.1).startswith("cat sat on")
    True
    """

    def __init__(self, vocab: Vocabulary, hidden_size: int = 128, *, dtype=np.float32,
                 seed: int | None = None, init_state: str = "zeros"):
        self._configure(vocab, hidden_size, dtype, seed, init_state)
        rng = np.random.default_rng(self.seed)
        self.params = init_params(len(vocab), self.hidden_size, dtype=self.dtype, seed=rng)
        if init_state == "random":
            self.a0 = rng.uniform(-1.0, 1.0, self.hidden_size).astype(self.dtype)
        else:
            self.a0 = np.zeros(self.hidden_size, dtype=self.dtype)

    def _configure(self, vocab, hidden_size, dtype, seed, init_state):
        if not isinstance(vocab, Vocabulary):
            raise TypeError(f"vocab must be a fastrnn.Vocabulary, got {type(vocab).__name__}")
        self.vocab = vocab
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.dtype = check_float_dtype(dtype)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        self.seed = seed
        if init_state not in INIT_STATES:
            raise ValueError(f"init_state must be one of {INIT_STATES}, got {init_state!r}")
        self.init_state = init_state
        self.step_ = 0
        self.history_ = []
        self._optimizer = None
        self._fit_config = {}
        # where training stopped: data key, next window, state carried into it
        self._trainer = None
        self._carry = None

    @classmethod
    def from_text(cls, text: str, hidden_size: int = 128, *, level: str = "char",
                  max_vocab: int | None = None, **kwargs) -> LanguageModel:
        """A model whose vocabulary is built from `text` (:meth:`Vocabulary.from_text`).

        `max_vocab` keeps the most frequent tokens (``<UNK>`` included);
        other keyword arguments go to :class:`LanguageModel`.

        Examples
        --------
        >>> from fastrnn.models import LanguageModel
        >>> LanguageModel.from_text("to be or not to be", 16, level="word").vocab.tokens
        ('<UNK>', 'to', 'be', 'or', 'not')
        """
        return cls(Vocabulary.from_text(text, level=cast(Literal["char", "word"], level),
                                        max_size=max_vocab),
                   hidden_size, **kwargs)

    def __repr__(self) -> str:
        return (f"LanguageModel(vocab_size={len(self.vocab)}, hidden_size={self.hidden_size}, "
                f"level={self.vocab.level!r}, dtype={self.dtype.name!r}, "
                f"init_state={self.init_state!r}, step={self.step_})")

    # -- data -----------------------------------------------------------------
    def _encode(self, data, name: str) -> np.ndarray:
        """Text or ids -> checked 1-d ids with at least 2 tokens."""
        if isinstance(data, str):
            ids = self.vocab.encode(data)
        else:
            ids = as_ids(data, name)
            V = len(self.vocab)
            if ids.size and ids.max() >= V:
                pos = int(np.argmax(ids >= V))
                raise FastRNNIndexError(f"{name} has token id {int(ids[pos])} at [{pos}]; "
                                        f"the vocabulary size is {V}")
        if ids.size < 2:
            raise ValueError(f"{name} has {ids.size} token(s); at least 2 are needed "
                             "(one input and the token it predicts)")
        return ids

    # -- training ---------------------------------------------------------------
    def _train_params(self) -> dict:
        p = dict(self.params)
        if self.init_state == "learned":
            p["a0"] = self.a0
        return p

    def _get_optimizer(self, name: str, lr: float) -> optim.Optimizer:
        key = name.lower() if isinstance(name, str) else name
        if not isinstance(key, str) or key not in optim.OPTIMIZERS:
            valid = ", ".join(repr(n) for n in optim.OPTIMIZERS)
            raise ValueError(f"unknown optimizer {name!r}; valid names are {valid}")
        params = self._train_params()
        old = self._optimizer
        if old is not None and old.name == key:
            if (set(old.params) == set(params)
                    and all(old.params[k] is params[k] for k in params)):
                old.lr = lr
                return old
            # arrays of `params` (or `a0`) rebound since the last fit: the
            # optimizer would update the old ones; its state carries over to
            # the new arrays where their shapes and dtypes match
            new = optim.make_optimizer(key, params, lr=lr)
            try:
                new.load_state_dict(old.state_dict())
            except (TypeError, ValueError):
                pass   # shapes changed: a failed load leaves `new` fresh
            new.lr = lr   # this fit's, not the state's
            self._optimizer = new
        else:  # first fit, or another optimizer: fresh state
            self._optimizer = optim.make_optimizer(key, params, lr=lr)
        return self._optimizer

    def fit(self, data, *, steps: int | None = None, epochs: int | None = None,
            seq_len: int = 64, batch_size: int = 32, optimizer: str = "adam",
            lr: float = 2e-3, clip: float | None = 5.0, clip_mode: str = "norm",
            val_data=None, eval_every: int = 100, callback=None,
            progress: bool = False) -> LanguageModel:
        """Train by truncated backpropagation through time.

        The data is cut into `batch_size` parallel streams read in windows of
        `seq_len` steps (:class:`~fastrnn.data.TBPTTBatches`); each window is
        one optimizer step on the mean cross-entropy per token.  The hidden
        state is carried from window to window (``a_last`` of one is the
        ``a0`` of the next; no gradient crosses windows) and reset to
        :attr:`a0` at the start of each pass.

        Training continues where the previous call stopped: the optimizer
        state and :attr:`step_` persist on the model (and in :meth:`save`),
        and, when called again with the same data, `batch_size` and
        `seq_len`, so do the position in the pass and the carried state, so
        ``fit(steps=N)`` twice equals ``fit(steps=2N)`` bit for bit.  Other
        data starts a new pass.  Changing `optimizer` starts a fresh
        optimizer state; changing `lr` keeps it.

        Parameters
        ----------
        data : str or array_like of int
            Training text (encoded with :attr:`vocab`; unknown tokens become
            ``<UNK>``) or 1-d token ids.
        steps : int, optional
            Number of optimizer steps (windows).
        epochs : int, optional
            Number of passes over the data (``epochs * len(windows)`` steps);
            one pass if neither `steps` nor `epochs` is given.
        seq_len : int, default 64
            Truncation length: time steps per window.
        batch_size : int, default 32
            Parallel streams per window.
        optimizer : {"adam", "sgd", "adagrad"}, default "adam"
        lr : float, default 2e-3
        clip : float or None, default 5.0
            Gradient clipping threshold (after averaging over tokens);
            ``None`` disables clipping.
        clip_mode : {"norm", "value"}, default "norm"
            ``"norm"``: rescale all gradients so that their global L2 norm is
            at most `clip` (:func:`~fastrnn.optim.clip_by_global_norm`);
            ``"value"``: clip each element to ``[-clip, clip]``
            (:func:`~fastrnn.optim.clip_by_value`, as in the course).
        val_data : str or array_like of int, optional
            Held-out data, scored with :meth:`loss` at each evaluation.
        eval_every : int, default 100
            Evaluate every `eval_every` steps (counted over all calls) and
            after the last step.
        callback : callable, optional
            Called as ``callback(info)`` after each evaluation, with ``info``
            a dict: ``step`` (total steps so far), ``train_loss`` (mean nats
            per token over the steps since the previous evaluation),
            ``val_loss`` (float, or None without `val_data`),
            ``tokens_per_sec`` (training throughput since the previous
            evaluation, evaluation time excluded) and ``elapsed`` (seconds
            since this call started).  The same dicts are appended to
            :attr:`history_`.
        progress : bool, default False
            Show a tqdm progress bar with the training loss, held-out loss
            and tokens per second (a line per evaluation on stderr if tqdm
            is not installed).

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            For a bad argument, before any training.
        FloatingPointError
            If the loss or the gradients become non-finite (lower `lr`).  The
            parameters are those of the last step taken: a gradient that
            becomes non-finite stops training before its update, but a loss
            that becomes non-finite comes from parameters an update has
            already made non-finite (an overflowing step), so the model then
            holds them; reload it (or :meth:`load` a checkpoint) before
            training on.
        KeyboardInterrupt
            On Ctrl-C, raised after the current step completes, so that the
            model is consistent and can be saved.
        """
        if steps is not None and epochs is not None:
            raise ValueError("give steps or epochs, not both")
        if steps is not None:
            steps = check_int(steps, "steps")
        if epochs is not None:
            epochs = check_int(epochs, "epochs")
        seq_len = check_int(seq_len, "seq_len")
        batch_size = check_int(batch_size, "batch_size")
        lr = _positive_float(lr, "lr")
        if clip is not None:
            clip = _positive_float(clip, "clip")
        if clip_mode not in _CLIP_MODES:
            raise ValueError(f"clip_mode must be 'norm' or 'value', got {clip_mode!r}")
        eval_every = check_int(eval_every, "eval_every")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if not isinstance(progress, (bool, np.bool_)):
            raise TypeError(f"progress must be a bool, got {progress!r}")
        ids = self._encode(data, "data")
        val = None if val_data is None else self._encode(val_data, "val_data")
        batches = TBPTTBatches(ids, batch_size, seq_len)
        n_windows = len(batches)
        total = steps if steps is not None else (epochs or 1) * n_windows
        opt = self._get_optimizer(optimizer, lr)
        self._fit_config = {"optimizer": opt.name, "lr": lr, "clip": clip,
                            "clip_mode": clip_mode, "batch_size": batch_size,
                            "seq_len": seq_len}

        key = _data_key(ids, batch_size, seq_len)
        if (self._trainer is None or self._trainer["key"] != key
                or self._trainer["window"] >= n_windows):
            self._trainer = {"key": key, "window": 0}
            self._carry = None
        learned = self.init_state == "learned"
        zero_da0 = np.zeros(self.hidden_size, dtype=self.dtype) if learned else None
        t_start = time.perf_counter()
        train_time = 0.0
        window_loss = 0.0
        window_tokens = 0
        bar = _Progress(progress, self.step_, total)
        try:
            with _DeferredInterrupt() as interrupt:
                for i in range(total):
                    t0 = time.perf_counter()
                    w = self._trainer["window"]
                    X, Y = batches[w]
                    fresh = self._carry is None
                    loss, grads, a_last = loss_and_grads(
                        self.params, X, Y, self.a0 if fresh else self._carry)
                    n_tok = X.size
                    if not math.isfinite(loss):
                        raise FloatingPointError(
                            f"the training loss became {loss} at step {self.step_ + 1}; "
                            "lower the learning rate or clip the gradients")
                    g = {k: grads[k] for k in PARAM_KEYS}
                    if learned:
                        # a0 only starts a pass; later windows start from a carried state
                        g["a0"] = grads["a0"] if fresh else zero_da0
                    optim._scale(g.values(), 1.0 / n_tok)  # sum over tokens -> mean
                    if clip is not None:
                        if clip_mode == "norm":
                            norm = optim.clip_by_global_norm(g, clip)
                        else:
                            optim.clip_by_value(g, clip)
                            norm = 0.0
                        if not math.isfinite(norm):
                            raise FloatingPointError(
                                f"the gradient norm became {norm} at step {self.step_ + 1}; "
                                "lower the learning rate")
                    opt.step(g)
                    self.step_ += 1
                    if w + 1 == n_windows:  # end of a pass: back to the initial state
                        self._trainer["window"] = 0
                        self._carry = None
                    else:
                        self._trainer["window"] = w + 1
                        self._carry = a_last
                    window_loss += loss
                    window_tokens += n_tok
                    train_time += time.perf_counter() - t0
                    last = i == total - 1 or interrupt.hit
                    if self.step_ % eval_every == 0 or last:
                        info = {
                            "step": self.step_,
                            "train_loss": window_loss / window_tokens,
                            "val_loss": None if val is None else self.loss(val),
                            "tokens_per_sec": window_tokens / max(train_time, 1e-12),
                            "elapsed": time.perf_counter() - t_start,
                        }
                        window_loss, window_tokens, train_time = 0.0, 0, 0.0
                        self.history_.append(info)
                        bar.step(None)
                        bar.evaluated(info)
                        if callback is not None:
                            callback(info)
                    else:
                        bar.step(window_loss / window_tokens if i % 10 == 0 else None)
                    if interrupt.hit:
                        raise KeyboardInterrupt(f"training interrupted after step {self.step_}")
        finally:
            bar.close()
        return self

    # -- evaluation ---------------------------------------------------------------
    def loss(self, data, *, batch_size: int | None = None) -> float:
        """Mean cross-entropy per predicted token, in nats.

        Each token after the first is predicted from the ones before it, the
        state carried across the whole sequence (no truncation: the forward
        pass is exact).  With ``batch_size=B`` the tokens are cut into B
        contiguous streams (as in training), each starting from :attr:`a0`,
        which is faster for long texts; ``batch_size=1`` scores the text as
        one sequence.

        Parameters
        ----------
        data : str or array_like of int
        batch_size : int, optional
            Default: as many streams of at least 256 tokens as fit, at most
            32 (1 for texts shorter than 513 tokens).

        Returns
        -------
        float
            ``-mean(log p(x<t+1> | x<1..t>))``; ``log(len(vocab))`` for a
            uniform model.
        """
        ids = self._encode(data, "data")
        n = ids.size
        if batch_size is None:
            batch_size = max(1, min(_EVAL_MAX_STREAMS, (n - 1) // _EVAL_MIN_STREAM))
        else:
            batch_size = check_int(batch_size, "batch_size")
        V = len(self.vocab)
        window = max(1, min(1024, _EVAL_MAX_PROBS // (batch_size * V)))
        batches = TBPTTBatches(ids, batch_size, window)
        tiny = np.finfo(self.dtype).tiny
        total = 0.0
        a = self.a0
        for X, Y in batches:
            probs, A = forward(self.params, X, a0=a)
            p = np.take_along_axis(probs, Y[:, :, None], axis=2)
            # a float32 probability can underflow to 0: clamp for a finite log
            total -= float(np.log(np.maximum(p, tiny), dtype=np.float64).sum())
            a = A[:, -1]
        return total / batches.n_tokens

    def perplexity(self, data, *, batch_size: int | None = None) -> float:
        """``exp(loss(data))``: the effective number of equally likely next tokens."""
        return math.exp(self.loss(data, batch_size=batch_size))

    # -- generation ---------------------------------------------------------------
    def sample(self, length: int = 200, *, prime: str | None = None,
               temperature: float = 1.0, top_k: int | None = None,
               seed: int | None = None, stop: str | None = None) -> str:
        """Generate text, one token at a time.

        Parameters
        ----------
        length : int, default 200
            Number of tokens to generate, >= 0 (0 gives ``""``, as
            :func:`fastrnn.sample` gives no ids).
        prime : str, optional
            Text fed to the model first (from :attr:`a0`); the sample
            continues it.  Without it, generation starts from :attr:`a0`, the
            first token drawn from the output distribution at that state.
        temperature : float, default 1.0
            Divides the logits: lower is more conservative, higher more varied.
        top_k : int, optional
            Draw only among the `top_k` most likely tokens.
        seed : int, optional
            Seed of the random draws; the same seed gives the same text.
        stop : str, optional
            A token (a character at char level, a word or punctuation mark at
            word level) at which generation stops; it is included.

        Returns
        -------
        str
            The generated text only (not the prime); at word level, tokens
            joined by single spaces.
        """
        ids = self._sample_ids(length, prime=prime, temperature=temperature, top_k=top_k,
                               seed=seed, stop=stop)
        return self.vocab.decode(ids)

    def _sample_ids(self, length, *, prime=None, temperature=1.0, top_k=None, seed=None,
                    stop=None) -> np.ndarray:
        """:meth:`sample`'s token ids, before decoding."""
        length = check_int(length, "length", minimum=0)
        _positive_float(temperature, "temperature")
        if top_k is not None:
            top_k = check_int(top_k, "top_k")
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        prime_ids = None
        if prime is not None:
            if not isinstance(prime, str):
                raise TypeError(f"prime must be a str, got {type(prime).__name__}")
            ids = self.vocab.encode(prime)
            prime_ids = ids if ids.size else None
        stop_id = None
        if stop is not None:
            if not isinstance(stop, str) or stop not in self.vocab:
                raise ValueError(f"stop token {stop!r} is not in the vocabulary")
            stop_id = self.vocab.token_to_id(stop)
        ids = sample_ids(self.params, length, prime=prime_ids, a0=self.a0,
                        temperature=temperature, top_k=top_k, stop_id=stop_id, seed=seed)
        return np.asarray(ids)

    def hidden_states(self, data, *, prime: str | None = None) -> np.ndarray:
        """The hidden state after each token of `data`: a<1>, ..., a<T>.

        The model reads `prime` (if given), then `data`, from :attr:`a0`, as
        :meth:`sample` does when it generates; the states while reading
        `prime` are not returned.  :func:`fastrnn.plotting.plot_states` draws
        them.

        Parameters
        ----------
        data : str or array_like of int
            Text (encoded with :attr:`vocab`) or 1-d token ids, at least one.
        prime : str, optional
            Text read first.

        Returns
        -------
        numpy.ndarray
            (T, H) in the model's dtype; row t is a<t+1>, the state after
            token t of `data`, each value in [-1, 1].

        Examples
        --------
        >>> from fastrnn.models import LanguageModel
        >>> lm = LanguageModel.from_text("hello world", 16, seed=0)
        >>> lm.hidden_states("hello").shape
        (5, 16)
        """
        if isinstance(data, str):
            ids = self.vocab.encode(data)
        else:
            ids = as_ids(data, "data")
            V = len(self.vocab)
            if ids.size and ids.max() >= V:
                pos = int(np.argmax(ids >= V))
                raise FastRNNIndexError(f"data has token id {int(ids[pos])} at [{pos}]; "
                                        f"the vocabulary size is {V}")
        if ids.size == 0:
            raise ValueError("data has no tokens; at least 1 is needed")
        if prime is not None and not isinstance(prime, str):
            raise TypeError(f"prime must be a str, got {type(prime).__name__}")
        pre = self.vocab.encode(prime) if prime else ids[:0]
        _, A = forward(self.params, np.concatenate([pre, ids])[None, :], a0=self.a0)
        return A[0, pre.size:]

    # -- persistence ---------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor's arguments and the last :meth:`fit` settings (JSON-able)."""
        return {"hidden_size": self.hidden_size, "dtype": self.dtype.name,
                "seed": self.seed, "init_state": self.init_state,
                "level": self.vocab.level, "vocab_size": len(self.vocab),
                "fit": dict(self._fit_config)}

    def save(self, path) -> None:
        """Save everything to one ``.npz`` checkpoint, atomically.

        Parameters, :attr:`a0`, vocabulary, configuration, optimizer state,
        step count, position in the training pass and carried state, and
        :attr:`history_`: :meth:`load` followed by :meth:`fit` continues
        exactly as if training had not stopped.  See :mod:`fastrnn.checkpoint`.
        """
        opt = self._optimizer
        meta = {"optimizer": None if opt is None else opt.name,
                "trainer": self._trainer, "history": self.history_}
        arrays = None if self._carry is None else {"carry": self._carry}
        save_checkpoint(path, self.params, self.vocab, hyperparams=self.get_config(),
                        step=self.step_, a0=self.a0,
                        optimizer_state=None if opt is None else opt.state_dict(),
                        meta=meta, arrays=arrays)

    @classmethod
    def load(cls, path) -> LanguageModel:
        """Load a model saved with :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If `path` does not exist.
        ValueError
            Naming `path`, for a file that is not a valid checkpoint (see
            :func:`fastrnn.checkpoint.load_checkpoint`) or whose training
            state does not fit the model.
        """
        ck = load_checkpoint(path)
        where = ck.path
        hp = ck.hyperparams
        H = ck.params["Waa"].shape[0]
        dtype = ck.params["Wax"].dtype
        init_state = hp.get("init_state", "zeros")
        seed = hp.get("seed")
        if init_state not in INIT_STATES:
            raise ValueError(f"{where!r}: unknown init_state {init_state!r} in checkpoint")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"{where!r}: invalid seed {seed!r} in checkpoint")
        model = cls.__new__(cls)
        model._configure(ck.vocab, H, dtype, seed, init_state)
        model.params = {k: np.array(ck.params[k], order="K") for k in PARAM_KEYS}
        model.params["Wax"] = np.asfortranarray(model.params["Wax"])
        model.a0 = np.zeros(H, dtype=dtype) if ck.a0 is None else np.array(ck.a0)
        model.step_ = ck.step
        model._fit_config, model.history_ = _saved_fit(
            hp.get("fit", {}), ck.meta.get("history", []), where)
        name = ck.meta.get("optimizer")
        if name is not None:
            if not isinstance(name, str) or name not in optim.OPTIMIZERS:
                raise ValueError(f"{where!r}: unknown optimizer {name!r} in checkpoint")
            model._optimizer = optim.make_optimizer(name, model._train_params(), lr=1e-3)
            try:
                model._optimizer.load_state_dict(ck.optimizer_state)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where!r}: invalid optimizer state: {exc}") from None
        trainer = ck.meta.get("trainer")
        if trainer is not None:
            ok = (isinstance(trainer, dict) and isinstance(trainer.get("key"), str)
                  and isinstance(trainer.get("window"), int) and trainer["window"] >= 0)
            if not ok:
                raise ValueError(f"{where!r}: invalid training state {trainer!r} in checkpoint")
            model._trainer = {"key": trainer["key"], "window": trainer["window"]}
            carry = ck.arrays.get("carry")
            if carry is not None:
                B = model._fit_config.get("batch_size")
                if (carry.ndim != 2 or carry.shape[1] != H or carry.dtype != dtype
                        or (B is not None and carry.shape[0] != B)):
                    raise ValueError(f"{where!r}: carried state has shape {carry.shape} dtype "
                                     f"{carry.dtype}, expected ({B or 'B'}, {H}) {dtype}")
                model._carry = np.ascontiguousarray(carry)
        return model
