"""The ``fastrnn`` command: train a language model, sample from it, benchmark the kernels.

    fastrnn train [CORPUS] [options]     train (on the built-in corpus without CORPUS)
    fastrnn sample MODEL.npz [options]   print generated text
    fastrnn bench [options]              time loss_and_grads against the NumPy reference

Also available as ``python -m fastrnn``.  Every user error (a missing,
unreadable, non-UTF-8 or empty file, a device or a pipe that does not end
within 256 MiB as the corpus, a corrupt or foreign checkpoint, a bad option
value) ends with a one-line ``fastrnn: error: ...`` on stderr and exit
status 2.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import stat
import statistics
import sys
import time
from typing import Any

import numpy as np

__all__ = ["main", "build_parser"]

PROG = "fastrnn"

#: ``fastrnn train`` defaults: about a minute on a 2-core machine with the
#: built-in corpus (~38 ms of CPU per step), the held-out loss falling from
#: ln(V) ~ 4.5 to ~ 1.7 nats per character.
TRAIN_DEFAULTS: dict[str, Any] = {
    "level": "char",
    "hidden": 256,
    "seq_len": 64,
    "batch_size": 32,
    "steps": 1500,
    "lr": 2e-3,
    "optimizer": "adam",
    "clip": 5.0,
    "clip_mode": "norm",
    "dtype": "float32",
    "init_state": "zeros",
}
_WORD_MAX_VOCAB = 10_000
#: The most read from a corpus that is not a regular file (a pipe, FIFO or
#: terminal): an endless one (``yes |``, a FIFO whose writer never closes)
#: was read until the process ran out of memory.  Holds enwik8 (100 MB).
_STREAM_LIMIT = 256 * 2**20


class CLIError(Exception):
    """A user error: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(message)


# -- option types -----------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return n


def _nonnegative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return n


def _float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return x


def _positive_float(text: str) -> float:
    x = _float(text)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return x


def _nonnegative_float(text: str) -> float:
    x = _float(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return x


def _fraction(text: str) -> float:
    x = _float(text)
    if not 0 <= x < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return x


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastrnn`` command.

    Notes
    -----
    Thread safety: returns a new parser on each call; safe from several
    threads.
    """
    from . import __version__

    parser = _Parser(prog=PROG, description="Train and sample Elman RNN language models "
                     "(Cython + BLAS kernels).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    d = TRAIN_DEFAULTS
    t = sub.add_parser(
        "train", help="train a language model on a text file",
        description="Train a language model by truncated backpropagation through time. "
        "Without CORPUS, trains on English prose from the Python standard library's "
        "docstrings (nothing is downloaded).",
        epilog="When resuming, the model's size, level, dtype and vocabulary come from the "
        "checkpoint, and options not given default to the values of its last run.")
    t.add_argument("corpus", nargs="?", metavar="CORPUS",
                   help="UTF-8 text file ('-' for standard input; a pipe is read up to "
                   f"{_size(_STREAM_LIMIT)}); default: built-in corpus")
    t.add_argument("--level", choices=("char", "word"),
                   help=f"tokens: characters or words (default: {d['level']})")
    t.add_argument("--hidden", type=_positive_int, metavar="N",
                   help=f"hidden state size (default: {d['hidden']})")
    t.add_argument("--max-vocab", type=_positive_int, metavar="N",
                   help="keep the N most frequent tokens, <UNK> included "
                   f"(default: all characters; {_WORD_MAX_VOCAB} words)")
    t.add_argument("--seq-len", type=_positive_int, metavar="N",
                   help=f"truncated BPTT window, in tokens (default: {d['seq_len']})")
    t.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help=f"parallel streams per step (default: {d['batch_size']})")
    t.add_argument("--steps", type=_positive_int, metavar="N",
                   help=f"optimizer steps to take (default: {d['steps']})")
    t.add_argument("--lr", type=_positive_float, metavar="X",
                   help=f"learning rate (default: {d['lr']:g})")
    t.add_argument("--optimizer", choices=("sgd", "adagrad", "adam"),
                   help=f"(default: {d['optimizer']})")
    t.add_argument("--clip", type=_nonnegative_float, metavar="X",
                   help=f"gradient clipping threshold, 0 for none (default: {d['clip']:g})")
    t.add_argument("--clip-mode", choices=("norm", "value"),
                   help="clip the global norm or each value (default: norm)")
    t.add_argument("--val-fraction", type=_fraction, default=0.1, metavar="F",
                   help="share of the corpus (its end) held out, 0 for none (default: 0.1)")
    t.add_argument("--seed", type=_nonnegative_int, default=0, metavar="S",
                   help="random seed of the initialisation and samples (default: 0)")
    t.add_argument("--dtype", choices=("float32", "float64"),
                   help=f"(default: {d['dtype']})")
    t.add_argument("--init-state", choices=("zeros", "random", "learned"),
                   help=f"initial hidden state (default: {d['init_state']})")
    t.add_argument("--out", metavar="MODEL.npz",
                   help="where to save the model (default: the --resume file, else model.npz)")
    t.add_argument("--resume", metavar="MODEL.npz",
                   help="continue training a saved model (optimizer state included)")
    t.add_argument("--plot", metavar="PNG", help="save the loss curves as a PNG image "
                   '(needs matplotlib: pip install "fastrnn[plot]")')
    t.add_argument("--eval-every", type=_positive_int, default=100, metavar="N",
                   help="evaluate on the held-out text every N steps (default: 100)")
    t.add_argument("--sample-every", type=_nonnegative_int, default=500, metavar="N",
                   help="print a sample every N steps, 0 for never (default: 500)")
    t.add_argument("--sample-length", type=_positive_int, metavar="N",
                   help="tokens per sample (default: 300 characters or 60 words)")
    t.add_argument("--temperature", type=_positive_float, default=0.8, metavar="T",
                   help="sampling temperature of the samples shown (default: 0.8)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(run=_cmd_train)

    s = sub.add_parser("sample", help="generate text from a saved model",
                       description="Print text generated by a saved model.")
    s.add_argument("model", metavar="MODEL.npz", help="a model saved by 'fastrnn train'")
    s.add_argument("--length", type=_positive_int, default=500, metavar="N",
                   help="tokens to generate (default: 500)")
    s.add_argument("--temperature", type=_positive_float, default=1.0, metavar="T",
                   help="below 1: safer, above 1: wilder (default: 1.0)")
    s.add_argument("--top-k", type=_positive_int, metavar="K",
                   help="draw only among the K most likely tokens")
    s.add_argument("--prime", metavar="TEXT", help="text to continue (printed first); "
                   "default: start as after a line break")
    s.add_argument("--stop", metavar="TOKEN", help="stop after this token, e.g. '.'")
    s.add_argument("--seed", type=_nonnegative_int, metavar="S",
                   help="random seed (default: a different sample each run)")
    s.add_argument("--plot-states", metavar="PNG",
                   help="also draw the hidden units over the generated text as a heat map "
                   '(needs matplotlib: pip install "fastrnn[plot]")')
    s.add_argument("--plot-units", type=_positive_int, default=8, metavar="N",
                   help="units drawn by --plot-states: the N most active (default: 8)")
    s.set_defaults(run=_cmd_sample)

    b = sub.add_parser("bench", help="time loss_and_grads against the NumPy reference",
                       description="Time fastrnn.loss_and_grads (Cython + BLAS) against "
                       "fastrnn.reference.loss_and_grads (NumPy) and PyTorch when importable.")
    b.add_argument("--repeats", type=_positive_int, default=5, metavar="N",
                   help="timed runs per entry; the median is shown (default: 5)")
    b.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    b.set_defaults(run=_cmd_bench)
    return parser


# -- helpers ----------------------------------------------------------------------------
def _say(msg: str = "") -> None:
    """Print to stdout without breaking a progress bar."""
    try:
        from tqdm import tqdm
    except ImportError:
        print(msg, flush=True)
    else:
        tqdm.write(msg, file=sys.stdout)
        sys.stdout.flush()


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % 2**20 == 0 else f"{n} bytes"


def _device(mode: int) -> str | None:
    """'a character device' or 'a block device' for such a file mode, else None."""
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return None


def _read_stream(f, path: str) -> bytes | bytearray:
    """All of `f`, a stream of unknown length, or a CLIError past _STREAM_LIMIT."""
    limit = _STREAM_LIMIT
    data = bytearray()
    while True:
        want = min(2**20, limit + 1 - len(data))
        chunk = f.read(want)
        data += chunk
        if len(data) > limit:
            raise CLIError(f"cannot read corpus {path!r}: it is not a regular file and did "
                           f"not end within {_size(limit)} (the most read from a pipe or "
                           "terminal); save the corpus to a file and give its path")
        # a buffered read returns fewer bytes than asked only at the end
        # (on a terminal, at the Ctrl-D that ends the text: reading on would
        # wait for a second one)
        if len(chunk) < want:
            return data


def _read_corpus(path: str) -> str:
    data: bytes | bytearray
    try:
        if path == "-":
            if sys.stdin is None:   # started with standard input closed
                raise CLIError("cannot read corpus from standard input: it is closed")
            f = sys.stdin.buffer
            try:
                mode = os.fstat(f.fileno()).st_mode
            except (OSError, ValueError):   # a stream without a descriptor: read it capped
                mode = stat.S_IFIFO
            kind = _device(mode)
            if kind and not f.isatty():   # e.g. < /dev/zero; a terminal is read capped
                raise CLIError(f"cannot read corpus {path!r}: standard input is {kind}, "
                               "not a text file")
            data = f.read() if stat.S_ISREG(mode) else _read_stream(f, path)
        else:
            kind = _device(os.stat(path).st_mode)   # refused before opening it
            if kind:
                raise CLIError(f"cannot read corpus {path!r}: it is {kind}, not a text file")
            with open(path, "rb") as f:
                if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    data = f.read()
                else:   # a FIFO, or /dev/stdin of a pipe
                    data = _read_stream(f, path)
    except MemoryError:
        raise CLIError(f"cannot read corpus {path!r}: it does not fit in memory") from None
    except FileNotFoundError:
        raise CLIError(f"cannot read corpus {path!r}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"cannot read corpus {path!r}: it is a directory") from None
    except OSError as exc:
        raise CLIError(f"cannot read corpus {path!r}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except MemoryError:
        raise CLIError(f"cannot read corpus {path!r}: its text does not fit in memory "
                       f"({len(data):,} bytes)") from None
    except UnicodeDecodeError as exc:
        raise CLIError(f"corpus {path!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                       f"offset {exc.start}); convert it first, e.g. with iconv -t UTF-8"
                       ) from None
    if not text.strip():
        raise CLIError(f"corpus {path!r} is empty")
    return text


def _check_writable(path: str, what: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{what} {path!r} is a directory")
    try:
        st = os.stat(path)
    except OSError:
        pass
    else:
        if not stat.S_ISREG(st.st_mode):   # a device, pipe or socket: never replaced
            raise CLIError(f"cannot write {what} {path!r}: it is not a regular file")
    if not os.path.isdir(directory):
        raise CLIError(f"cannot write {what} {path!r}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write {what} {path!r}: directory {directory!r} is not writable")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:   # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def _check_distinct(outputs: dict, inputs: dict) -> None:
    """Every output path differs from every input and from the other
    outputs (name -> path; None: not given)."""
    outs = [(n, p) for n, p in outputs.items() if p]
    for i, (name, path) in enumerate(outs):
        for other, q in [(n, q) for n, q in inputs.items() if q] + outs[:i]:
            if _same_file(path, q):
                raise CLIError(f"{name} {path!r} is also the {other}; give another path")


def _load_model(path: str):
    from .models import LanguageModel

    try:
        return LanguageModel.load(path)
    except FileNotFoundError:
        raise CLIError(f"cannot read model {path!r}: no such file") from None
    except OSError as exc:
        raise CLIError(f"cannot read model {path!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _import_matplotlib(flag: str = "--plot"):
    try:
        importlib.import_module("matplotlib")  # the package itself, not a cached submodule
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CLIError(f"{flag} needs matplotlib, which is not installed; "
                       'install it with: pip install "fastrnn[plot]"') from None
    return Figure, FigureCanvasAgg


def _plot(path: str, history: list, vocab_size: int, title: str) -> None:
    Figure, FigureCanvasAgg = _import_matplotlib()
    fig = Figure(figsize=(7, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["train_loss"] for h in history], label="training (mean since last point)")
    val = [(h["step"], h["val_loss"]) for h in history if h.get("val_loss") is not None]
    if val:
        ax.plot(*zip(*val), marker=".", label="held-out")
    ax.axhline(math.log(vocab_size), color="grey", linestyle=":",
               label=f"uniform guess, ln {vocab_size}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from .plotting import save_png
    try:
        save_png(fig, path)
    except OSError as exc:
        raise CLIError(f"cannot write plot {path!r}: {exc.strerror or exc}") from None


def _join(prime: str | None, text: str, level: str) -> str:
    if not prime:
        return text
    sep = " " if level == "word" and text and not prime.endswith(" ") else ""
    return prime + sep + text


def _fmt_loss(loss: float | None) -> str:
    if loss is None:
        return "n/a (no held-out data)"
    return f"{loss:.3f} nats/token, perplexity {math.exp(min(loss, 700)):.2f}"


def _line_start(vocab) -> str | None:
    """Samples without a prime start as after a line break, when that is a token."""
    return "\n" if vocab.level == "char" and "\n" in vocab else None


# -- train --------------------------------------------------------------------------
def _cmd_train(args) -> int:
    from .corpus import default_corpus
    from .data import split_ids
    from .models import LanguageModel

    # everything that can fail before training, fails now
    out = args.out or args.resume or "model.npz"
    # --out may be the resumed model (it is its default), nothing else given
    _check_distinct({"--out": out, "--plot": args.plot},
                    {"corpus": None if args.corpus in (None, "-") else args.corpus})
    if args.plot and args.resume:
        _check_distinct({"--plot": args.plot}, {"resumed model": args.resume})
    if args.plot:
        _import_matplotlib()
        _check_writable(args.plot, "plot")
    _check_writable(out, "model")
    if args.corpus is None:
        text = default_corpus()
        source = "built-in corpus (Python standard-library docstrings)"
    else:
        text = _read_corpus(args.corpus)
        source = "standard input" if args.corpus == "-" else repr(args.corpus)

    d = dict(TRAIN_DEFAULTS)
    if args.resume:
        model = _load_model(args.resume)
        given = {"level": (args.level, model.vocab.level),
                 "hidden": (args.hidden, model.hidden_size),
                 "dtype": (args.dtype, model.dtype.name),
                 "init-state": (args.init_state, model.init_state)}
        for flag, (value, saved) in given.items():
            if value is not None and value != saved:
                raise CLIError(f"--{flag} {value} conflicts with the resumed model "
                               f"({args.resume!r} has {flag} {saved})")
        if args.max_vocab is not None:
            raise CLIError("--max-vocab cannot be used with --resume (the vocabulary is "
                           "the saved model's)")
        saved = model.get_config().get("fit", {})
        for key in ("seq_len", "batch_size", "lr", "optimizer", "clip", "clip_mode"):
            if key in saved:
                d[key] = 0.0 if key == "clip" and saved[key] is None else saved[key]
    else:
        level = args.level or d["level"]
        max_vocab = args.max_vocab or (_WORD_MAX_VOCAB if level == "word" else None)
        hidden = args.hidden or d["hidden"]
        try:
            model = LanguageModel.from_text(
                text, hidden, level=level, max_vocab=max_vocab,
                dtype=args.dtype or d["dtype"], seed=args.seed,
                init_state=args.init_state or d["init_state"])
        except ValueError as exc:  # a size beyond BLAS's 32-bit integers
            raise CLIError(f"argument --hidden: {exc}") from None
        except MemoryError:
            raise CLIError(f"argument --hidden: not enough memory for a model with "
                           f"{hidden} hidden units") from None

    def pick(name):
        value = getattr(args, name)
        return d[name] if value is None else value

    seq_len, batch_size = pick("seq_len"), pick("batch_size")
    steps, lr, clip = pick("steps"), pick("lr"), pick("clip")
    optimizer, clip_mode = pick("optimizer"), pick("clip_mode")
    vocab = model.vocab
    ids = vocab.encode(text)
    unknown = int(np.count_nonzero(ids == vocab.unk_id))
    try:
        train_ids, val_ids = split_ids(ids, args.val_fraction)
    except ValueError as exc:
        raise CLIError(f"corpus is too short ({ids.size} tokens): {exc}") from None
    if train_ids.size < batch_size + 1:
        raise CLIError(f"corpus is too short: {train_ids.size} training tokens for "
                       f"--batch-size {batch_size}; use a smaller --batch-size")
    val = val_ids if val_ids.size >= 2 else None
    level = vocab.level
    sample_length = args.sample_length or (300 if level == "char" else 60)
    unit = "characters" if level == "char" else "words"

    n_params = sum(p.size for p in model.params.values())
    print(f"corpus: {source}, {ids.size:,} {unit}"
          + (f" ({unknown:,} not in the vocabulary)" if unknown else ""))
    print(f"data: {train_ids.size:,} training / {val_ids.size:,} held-out tokens; "
          f"vocabulary {len(vocab):,} {level} tokens (uniform guess: "
          f"{math.log(len(vocab)):.2f} nats/token)")
    resumed = f", resumed from {args.resume!r} at step {model.step_}" if args.resume else ""
    print(f"model: H={model.hidden_size}, {n_params:,} parameters, {model.dtype.name}{resumed}")
    print(f"training: {steps} steps of {batch_size} x {seq_len} tokens, {optimizer} lr {lr:g}, "
          + (f"clip {clip_mode} {clip:g}" if clip else "no clipping"), flush=True)

    state = {"last_sample": model.step_, "sampling": True}

    def show_sample(title: str, seed: int) -> None:
        if not state["sampling"]:
            return
        try:
            sample = model.sample(sample_length, prime=_line_start(model.vocab),
                                  temperature=args.temperature, seed=seed)
        except MemoryError:   # a --sample-length too long: training goes on, and is saved
            state["sampling"] = False
            print(f"{PROG}: warning: argument --sample-length: not enough memory for "
                  f"{sample_length} tokens; no more samples are shown", file=sys.stderr)
            return
        _say(f"--- {title} ---\n{sample}\n")

    def callback(info):
        every = args.sample_every
        if every and info["step"] // every > state["last_sample"] // every:
            state["last_sample"] = info["step"]
            if info["step"] < start + steps:  # the final samples come after the summary
                show_sample(f"sample at step {info['step']} (temperature {args.temperature:g})",
                            args.seed + info["step"])

    start = model.step_
    t0 = time.perf_counter()
    interrupted = False
    try:
        # a diverging run overflows on its way to the non-finite loss that
        # stops it: that is reported below, in one line, not as warnings
        with np.errstate(over="ignore", invalid="ignore"):
            model.fit(train_ids, steps=steps, seq_len=seq_len, batch_size=batch_size,
                      optimizer=optimizer, lr=lr, clip=clip or None, clip_mode=clip_mode,
                      val_data=val, eval_every=args.eval_every, callback=callback,
                      progress=not args.no_progress)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted at step {model.step_}; saving what was trained", file=sys.stderr)
    except FloatingPointError as exc:
        print(f"{PROG}: error: training diverged: {exc}; the model was not saved",
              file=sys.stderr)
        return 1
    seconds = time.perf_counter() - t0
    done = model.step_ - start

    try:
        model.save(out)
    except OSError as exc:
        raise CLIError(f"cannot save model to {out!r}: {exc.strerror or exc}") from None
    last = model.history_[-1] if model.history_ and done else None
    print()
    print(f"trained {done} steps (now at step {model.step_}) in {seconds:.1f} s, "
          f"about {done * batch_size * seq_len / max(seconds, 1e-9):,.0f} tokens/s")
    if last is not None:
        print(f"final training loss: {_fmt_loss(last['train_loss'])} "
              f"(mean over the last {min(args.eval_every, done)} steps)")
        print(f"final held-out loss: {_fmt_loss(last['val_loss'])}")
    print(f"model saved to {out}")
    if args.plot and model.history_:
        _plot(args.plot, model.history_, len(vocab),
              f"fastrnn {level}-level, H={model.hidden_size}")
        print(f"loss curves saved to {args.plot}")
    if not interrupted:
        print()
        for i in range(3):
            show_sample(f"sample {i + 1} of 3 (temperature {args.temperature:g})",
                        args.seed + model.step_ + i)
    return 130 if interrupted else 0


# -- sample -------------------------------------------------------------------------
def _cmd_sample(args) -> int:
    if args.plot_states:
        _check_distinct({"--plot-states": args.plot_states}, {"model": args.model})
        _import_matplotlib("--plot-states")
        _check_writable(args.plot_states, "plot")
    model = _load_model(args.model)
    if args.plot_states and args.plot_units > model.hidden_size:
        raise CLIError(f"argument --plot-units: must be at most the hidden size "
                       f"{model.hidden_size}, got {args.plot_units}")
    if args.top_k is not None and args.top_k > len(model.vocab):
        raise CLIError(f"argument --top-k: must be at most the vocabulary size "
                       f"{len(model.vocab)}, got {args.top_k}")
    if args.stop is not None and args.stop not in model.vocab:
        raise CLIError(f"argument --stop: {args.stop!r} is not a token of the model's "
                       "vocabulary")
    prime = args.prime if args.prime else _line_start(model.vocab)
    try:
        ids = model._sample_ids(args.length, prime=prime, temperature=args.temperature,
                                top_k=args.top_k, seed=args.seed, stop=args.stop)
    except MemoryError:
        raise CLIError(f"argument --length: not enough memory for {args.length} "
                       "tokens") from None
    text = model.vocab.decode(ids)
    sys.stdout.write(_join(args.prime, text, model.vocab.level) + "\n")
    sys.stdout.flush()
    if args.plot_states:
        from .plotting import plot_states

        try:
            plot_states(model, ids, prime=prime, n_units=args.plot_units,
                        path=args.plot_states,
                        title=f"{args.plot_units} most active of {model.hidden_size} hidden "
                        f"units over the sample ({args.model})")
        except OSError as exc:
            raise CLIError(f"cannot write plot {args.plot_states!r}: "
                           f"{exc.strerror or exc}") from None
        print(f"hidden states drawn to {args.plot_states}", file=sys.stderr)
    return 0


# -- bench ----------------------------------------------------------------------------
#: (name, V, H, B, T) of ``fastrnn bench``.
BENCH_SIZES = (("course", 27, 50, 1, 25), ("small", 65, 128, 32, 64))


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def _torch_runner(params, X, Y, dtype):
    """PyTorch's nn.RNN + Linear + cross-entropy, forward and backward, or None."""
    try:
        import torch
    except ImportError:
        return None
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    H, V = params["Wax"].shape
    rnn = torch.nn.RNN(V, H, nonlinearity="tanh", batch_first=True).to(tdt)
    out_layer = torch.nn.Linear(H, V).to(tdt)
    x = torch.nn.functional.one_hot(torch.as_tensor(X), V).to(tdt)
    y = torch.as_tensor(Y).reshape(-1)

    def run():
        rnn.zero_grad()
        out_layer.zero_grad()
        seq, _ = rnn(x)
        logits = out_layer(seq).reshape(-1, V)
        torch.nn.functional.cross_entropy(logits, y, reduction="sum").backward()
    return run


def _cmd_bench(args) -> int:
    import fastrnn

    dtype = np.dtype(args.dtype)
    rows = []
    have_torch = False
    for name, V, H, B, T in BENCH_SIZES:
        rng = np.random.default_rng(0)
        p = fastrnn.init_params(V, H, dtype=dtype, seed=0)
        X = rng.integers(0, V, size=(B, T))
        Y = rng.integers(0, V, size=(B, T))
        fast = _median_ms(lambda: fastrnn.loss_and_grads(p, X, Y), args.repeats)
        ref = _median_ms(lambda: fastrnn.reference.loss_and_grads(p, X, Y), args.repeats)
        torch_run = _torch_runner(p, X, Y, dtype)
        tt = None if torch_run is None else _median_ms(torch_run, args.repeats)
        have_torch |= tt is not None
        rows.append((name, V, H, B, T, fast, ref, tt))
    print(f"loss_and_grads (forward + BPTT), {dtype.name}, median of {args.repeats} runs, ms")
    head = f"{'size':<8}{'V':>5}{'H':>5}{'B':>4}{'T':>4}{'fastrnn':>10}{'reference':>11}{'speed-up':>10}"
    if have_torch:
        head += f"{'pytorch':>10}"
    print(head)
    for name, V, H, B, T, fast, ref, tt in rows:
        line = (f"{name:<8}{V:>5}{H:>5}{B:>4}{T:>4}{fast:>10.3f}{ref:>11.3f}"
                f"{ref / fast:>9.1f}x")
        if have_torch:
            line += f"{tt:>10.3f}"
        print(line)
    if not have_torch:
        print("(PyTorch is not installed; install it to add a column)")
    return 0


# -- entry point ------------------------------------------------------------------------
def main(argv=None) -> int:
    """Run the ``fastrnn`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (without the program name); ``sys.argv[1:]`` if None.

    Notes
    -----
    Thread safety: meant for the main thread of a process: it writes to
    standard output and error, and Ctrl-C during training is deferred only
    in the main thread.

    Examples
    --------
    >>> from fastrnn.cli import main
    >>> main(["train", "--hidden", "0"])
    2
    """
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else 0
        if args.command is None:
            parser.print_usage(sys.stderr)
            raise CLIError("choose a command: train, sample or bench "
                           f"(see '{PROG} COMMAND --help')")
        return args.run(args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside training, which handles it itself
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. fastrnn sample model.npz | head
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
