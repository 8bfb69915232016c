"""Pictures of a language model: its hidden units over a text, as a heat map.

:func:`plot_states` draws the activations a<t> of a few hidden units (rows)
while the model reads a text (columns), with the text's characters (or words)
under the columns, as in Karpathy's *The Unreasonable Effectiveness of
Recurrent Neural Networks*: units that track quotes, line length or word
boundaries show up as bands of colour.  ``fastrnn sample MODEL.npz
--plot-states FILE.png`` draws the text it generates this way.

matplotlib is an optional dependency (``pip install "fastrnn[plot]"``); the
figure is drawn with the Agg backend, without pyplot, so it needs no display
and touches no global plotting state.
"""
from __future__ import annotations

import importlib
import io
import os
from typing import Any

import numpy as np

from ._util import atomic_write, check_int

__all__ = ["plot_states", "MATPLOTLIB_MISSING"]

#: The message of the ImportError raised without matplotlib.
MATPLOTLIB_MISSING = ('plotting needs matplotlib, which is not installed; '
                      'install it with: pip install "fastrnn[plot]"')

# how a token is shown under its column
_SHOWN = {" ": "·", "\n": "↵", "\t": "→", "\r": "←"}


def _matplotlib():
    """Figure and the Agg canvas, or an ImportError telling what to install."""
    try:
        importlib.import_module("matplotlib")  # the package itself, not a cached submodule
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(MATPLOTLIB_MISSING) from None
    return Figure, FigureCanvasAgg


def _label(token: str) -> str:
    return "".join(_SHOWN.get(c, c) if c.isspace() or c in _SHOWN else c for c in token)


def _pick_units(states: np.ndarray, units, n_units) -> np.ndarray:
    H = states.shape[1]
    if units is not None:
        try:
            u = np.asarray(units)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"units could not be converted to an array: {exc}") from None
        if u.ndim != 1 or u.size == 0 or u.dtype.kind not in "iu":
            raise TypeError(f"units must be a non-empty 1-d sequence of integer unit "
                            f"numbers, got {units!r}")
        bad = (u < 0) | (u >= H)
        if bad.any():
            k = int(np.argmax(bad))
            from ._validate import FastRNNIndexError
            raise FastRNNIndexError(f"units has unit {int(u[k])} at [{k}]; units must be in "
                                    f"[0, {H}) (hidden size H={H})")
        return u.astype(np.intp)
    n = check_int(n_units, "n_units", 1, H)
    # the busiest units first: the largest spread of activation over the text
    return np.argsort(-states.std(axis=0), kind="stable")[:n]


def plot_states(model, text, *, prime: str | None = None, units=None, n_units: int = 8,
                per_row: int | None = None, path: str | os.PathLike | None = None,
                title: str | None = None) -> Any:
    """Heat map of hidden units over a text, the text's tokens under it.

    Parameters
    ----------
    model : LanguageModel
    text : str or array_like of int
        What the model reads (after `prime`); one column per token.
    prime : str, optional
        Text read first and not drawn (e.g. the prime of a sample).
    units : sequence of int, optional
        The hidden units to draw, one row each, in this order.
    n_units : int, default 8
        Without `units`: draw the `n_units` units whose activation varies
        most over `text`, the most varied at the top.
    per_row : int, optional
        Tokens per row of the picture (long texts wrap); default 64
        characters or 24 words.
    path : str or os.PathLike, optional
        Also save the figure there as a PNG.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Drawn on an Agg canvas (``fig.savefig`` works without a display).

    Raises
    ------
    ImportError
        Without matplotlib, saying how to install it.
    TypeError, ValueError, IndexError
        For a bad argument, naming it.

    Notes
    -----
    Thread safety: safe from several threads on models no thread is
    fitting; each call makes its own figure and uses no pyplot state.

    Examples
    --------
    >>> from fastrnn.models import LanguageModel
    >>> from fastrnn.plotting import plot_states
    >>> lm = LanguageModel.from_text("hello world", 16, seed=0)
    >>> fig = plot_states(lm, "hello world", n_units=4)  # doctest: +SKIP
    >>> fig.savefig("states.png")                         # doctest: +SKIP
    """
    from .models import LanguageModel

    if not isinstance(model, LanguageModel):
        raise TypeError(f"model must be a fastrnn LanguageModel, got {type(model).__name__}")
    word = model.vocab.level == "word"
    per_row = check_int(24 if word else 64, "per_row") if per_row is None \
        else check_int(per_row, "per_row")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    if path is not None:
        path = os.fspath(path)
    Figure, FigureCanvasAgg = _matplotlib()
    ids = model.vocab.encode(text) if isinstance(text, str) else text
    states = model.hidden_states(ids, prime=prime).astype(np.float64)
    ids = np.asarray(model.vocab.encode(text) if isinstance(text, str) else ids)
    chosen = _pick_units(states, units, n_units)
    labels = [_label(model.vocab.id_to_token(int(i))) for i in ids.reshape(-1)]

    T, n = states.shape[0], chosen.size
    rows = -(-T // per_row)
    cols = min(per_row, T)
    cell = 0.34 if word else 0.17
    fig = Figure(figsize=(max(5.0, cols * cell + 2.2), rows * (0.26 * n + 0.75) + 0.9),
                 dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    image = None
    for r, ax in enumerate(axes):
        lo, hi = r * per_row, min(T, (r + 1) * per_row)
        block = np.full((n, cols), np.nan)
        block[:, :hi - lo] = states[lo:hi, chosen].T
        image = ax.imshow(block, aspect="auto", cmap="RdBu_r", vmin=-1.0, vmax=1.0,
                          interpolation="nearest")
        ax.set_xticks(np.arange(hi - lo))
        ax.set_xticklabels(labels[lo:hi], rotation=90 if word else 0,
                           fontsize=8 if word else 9, fontfamily="monospace")
        ax.tick_params(axis="x", length=0, pad=2)
        ax.set_yticks(np.arange(n))
        ax.set_yticklabels([f"unit {u}" for u in chosen], fontsize=7)
        ax.set_xlim(-0.5, cols - 0.5)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
    fig.colorbar(image, ax=list(axes), shrink=min(1.0, 3.0 / rows) if rows > 1 else 1.0,
                 label="activation a<t> (tanh)")
    if title is None:
        title = (f"{n} hidden unit{'s' * (n > 1)} of {model.hidden_size} over "
                 f"{T} {'words' if word else 'characters'}")
    fig.suptitle(title)
    if path is not None:
        save_png(fig, path)
    return fig


def save_png(fig: Any, path) -> None:
    """`fig` as a PNG at `path`, written to a temporary file and renamed into
    place (:func:`fastrnn._util.atomic_write`): the file holds the old image
    or the whole new one, never a part."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(path, lambda f: f.write(buf.getvalue()))
