"""Token vocabularies for character- and word-level language modelling.

The :class:`Vocabulary` maps text to integer ids (and back) so that it can be
fed to an RNN, either as ids or as one-hot vectors.  Vocabularies are saved as
UTF-8 JSON, never with :mod:`pickle`.

Examples
--------
>>> from fastrnn.vocab import Vocabulary
>>> vocab = Vocabulary.from_text("hello")
>>> vocab.tokens
('<UNK>', 'l', 'h', 'e', 'o')
>>> vocab.encode("hole!")
array([2, 4, 1, 3, 0])
>>> vocab.decode(vocab.encode("hello"))
'hello'
"""

from __future__ import annotations

import json
import operator
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._util import atomic_write

__all__ = ["Vocabulary"]

#: Value of the ``"format"`` field of a saved vocabulary.
FORMAT_NAME = "fastrnn.vocabulary"
#: Newest file-format version this module reads and the version it writes.
FORMAT_VERSION = 1

_LEVELS = ("char", "word")
# Largest dense code-point lookup table used by character-level encode.
_MAX_LUT = 1 << 17

#: Word-level tokenizer: a run of word characters, or one character that is
#: neither a word character nor whitespace (punctuation, symbols, ...).
WORD_TOKEN_PATTERN = r"\w+|[^\w\s]"
_WORD_RE = re.compile(WORD_TOKEN_PATTERN)


def _check_level(level: Any) -> str:
    if level not in _LEVELS:
        raise ValueError(f"level must be 'char' or 'word', got {level!r}")
    return level


class Vocabulary:
    """Bidirectional mapping between tokens and integer ids.

    A vocabulary works at one of two levels:

    ``"char"``
        Tokens are single Unicode code points (Python ``str`` characters;
        no grapheme clustering, so ``"e\\u0301"`` is two tokens).  For text
        whose characters are all in the vocabulary, ``decode(encode(text))``
        reproduces ``text`` exactly.
    ``"word"``
        Tokens are found with the regular expression ``\\w+|[^\\w\\s]``
        (:data:`WORD_TOKEN_PATTERN`): runs of word characters, and single
        characters that are neither word characters nor whitespace
        (punctuation, symbols).  Whitespace is never a token, and
        :meth:`decode` joins tokens with single spaces, so word-level decoding
        is *not* an exact inverse of :meth:`encode`
        (``"Hi, there"`` decodes as ``"Hi , there"``).

    The unknown token (``unk_token``, by default ``"<UNK>"``) is always
    present; :meth:`encode` maps every out-of-vocabulary token to
    :attr:`unk_id`.

    **Index order** (for :meth:`from_text`): first the special tokens in the
    order given (the unknown token is inserted at the front if the specials
    omit it), then the tokens of the text by descending frequency, ties broken
    by first appearance in the text.  Building the same vocabulary from the
    same text therefore always gives the same ids.  When constructed directly,
    ids follow the order of ``tokens``.

    Special tokens are ordinary entries of the vocabulary; :meth:`encode` only
    produces them when the tokenizer yields them (a multi-character special
    such as ``"<PAD>"`` is never produced from text at character level).

    Parameters
    ----------
    tokens : iterable of str
        All tokens in index order.  They must be unique non-empty strings and
        must include `unk_token`.
    level : {"char", "word"}, default "char"
        Tokenization level.
    unk_token : str, default "<UNK>"
        Token that out-of-vocabulary tokens map to.

    Raises
    ------
    TypeError
        If `tokens` is a string or contains non-strings.
    ValueError
        If tokens are duplicated or empty, `unk_token` is not among them, or
        `level` is unknown.

    See Also
    --------
    Vocabulary.from_text : Build a vocabulary from a corpus.

    Notes
    -----
    Thread safety: a vocabulary is read-only after construction (nothing
    is cached lazily), so every method may be called from any number of
    threads at once.  save writes atomically, so concurrent saves to one
    path leave one complete file.

    Examples
    --------
    >>> from fastrnn.vocab import Vocabulary
    >>> vocab = Vocabulary(["<UNK>", "a", "b"])
    >>> len(vocab), vocab.unk_id
    (3, 0)
    >>> vocab.encode("abc")
    array([1, 2, 0])
    >>> vocab.decode([2, 1])
    'ba'
    >>> words = Vocabulary.from_text("the cat saw the dog.", level="word")
    >>> words.tokens
    ('<UNK>', 'the', 'cat', 'saw', 'dog', '.')
    >>> words.decode(words.encode("the dog saw a cat!"))
    'the dog saw <UNK> cat <UNK>'
    """

    def __init__(
        self,
        tokens: Iterable[str],
        level: Literal["char", "word"] = "char",
        unk_token: str = "<UNK>",
    ) -> None:
        if isinstance(tokens, (str, bytes)):
            raise TypeError(
                "tokens must be an iterable of str, not a single "
                f"{type(tokens).__name__}"
            )
        toks = tuple(tokens)
        _check_level(level)
        if not isinstance(unk_token, str):
            raise TypeError(f"unk_token must be a str, got {type(unk_token).__name__}")
        index: dict[str, int] = {}
        for i, tok in enumerate(toks):
            if not isinstance(tok, str):
                raise TypeError(
                    f"token at index {i} is {type(tok).__name__}, expected str"
                )
            if not tok:
                raise ValueError(f"token at index {i} is the empty string")
            if tok in index:
                raise ValueError(
                    f"duplicate token {tok!r} at indices {index[tok]} and {i}"
                )
            index[tok] = i
        if unk_token not in index:
            raise ValueError(f"unk_token {unk_token!r} is not among the tokens")

        self._tokens: tuple[str, ...] = toks
        self._level: str = level
        self._unk_token: str = unk_token
        self._index: dict[str, int] = index
        self._unk_id: int = index[unk_token]
        self._token_array = np.array(toks, dtype=object)
        # Character-level lookup: sorted code points of the single-character
        # tokens and their ids, for a vectorized searchsorted lookup.
        singles = [(ord(t), i) for t, i in index.items() if len(t) == 1]
        singles.sort()
        self._cp_sorted = np.array([c for c, _ in singles], dtype=np.uint32)
        self._cp_ids = np.array([i for _, i in singles], dtype=np.intp)
        # When all code points are small, a dense lookup table (at most
        # _MAX_LUT entries) is faster than binary search.
        self._lut: np.ndarray | None = None
        if singles and singles[-1][0] < _MAX_LUT:
            lut = np.full(singles[-1][0] + 2, self._unk_id, dtype=np.intp)
            lut[self._cp_sorted] = self._cp_ids
            self._lut = lut

    # ------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------
    @classmethod
    def from_text(
        cls,
        text: str,
        level: Literal["char", "word"] = "char",
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = ("<UNK>",),
        unk_token: str = "<UNK>",
    ) -> Vocabulary:
        """Build a vocabulary from a text corpus.

        Parameters
        ----------
        text : str
            Corpus to count tokens in.
        level : {"char", "word"}, default "char"
            Tokenization level (see :class:`Vocabulary`).
        min_freq : int, default 1
            Tokens occurring fewer than `min_freq` times are left out.
        max_size : int or None, default None
            Maximum total number of entries, *including* the specials; the
            most frequent tokens are kept.  ``None`` means no limit.
        specials : sequence of str, default ("<UNK>",)
            Special tokens placed first, in this order.  `unk_token` is
            inserted at the front if missing.  A token of the text equal to
            a special keeps the special's position.
        unk_token : str, default "<UNK>"
            The unknown token.

        Returns
        -------
        Vocabulary
            Specials first, then tokens by descending frequency, ties broken
            by first appearance in `text`.

        Raises
        ------
        TypeError
            If `text` is not a str or `specials` is a single str.
        ValueError
            If `specials` has duplicates, `min_freq` < 1, or `max_size` is
            smaller than the number of specials.

        Examples
        --------
        >>> from fastrnn.vocab import Vocabulary
        >>> Vocabulary.from_text("abracadabra").tokens
        ('<UNK>', 'a', 'b', 'r', 'c', 'd')
        >>> Vocabulary.from_text("abracadabra", min_freq=2).tokens
        ('<UNK>', 'a', 'b', 'r')
        >>> Vocabulary.from_text("abracadabra", max_size=3,
        ...                      specials=["<PAD>"]).tokens
        ('<UNK>', '<PAD>', 'a')
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        _check_level(level)
        if isinstance(specials, (str, bytes)):
            raise TypeError("specials must be a sequence of str, not a single string")
        specials = list(specials)
        if not isinstance(unk_token, str):
            raise TypeError(f"unk_token must be a str, got {type(unk_token).__name__}")
        if unk_token not in specials:
            specials.insert(0, unk_token)
        if len(set(specials)) != len(specials):
            raise ValueError(f"specials contain duplicates: {specials!r}")
        if isinstance(min_freq, bool) or not isinstance(min_freq, (int, np.integer)):
            raise TypeError(f"min_freq must be an int, got {type(min_freq).__name__}")
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None:
            if isinstance(max_size, bool) or not isinstance(
                max_size, (int, np.integer)
            ):
                raise TypeError(
                    f"max_size must be an int or None, got {type(max_size).__name__}"
                )
            if max_size < len(specials):
                raise ValueError(
                    f"max_size={max_size} is smaller than the number of "
                    f"specials ({len(specials)}: {specials!r})"
                )

        pieces = text if level == "char" else _WORD_RE.findall(text)
        # Counter preserves first-insertion order, and sorted() is stable, so
        # ties in frequency keep the order of first appearance.
        counts = Counter(pieces)
        special_set = set(specials)
        ranked = sorted(
            (
                (tok, n)
                for tok, n in counts.items()
                if n >= min_freq and tok not in special_set
            ),
            key=lambda item: item[1],
            reverse=True,
        )
        tokens = specials + [tok for tok, _ in ranked]
        if max_size is not None:
            tokens = tokens[: int(max_size)]
        return cls(tokens, level=level, unk_token=unk_token)

    # ------------------------------------------------------------------
    # properties
    # ------------------------------------------------------------------
    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in index order (``tokens[i]`` has id ``i``)."""
        return self._tokens

    @property
    def level(self) -> str:
        """Tokenization level, ``"char"`` or ``"word"``."""
        return self._level

    @property
    def unk_token(self) -> str:
        """The unknown token."""
        return self._unk_token

    @property
    def unk_id(self) -> int:
        """Id of the unknown token."""
        return self._unk_id

    # ------------------------------------------------------------------
    # single tokens
    # ------------------------------------------------------------------
    def token_to_id(self, tok: str) -> int:
        """Return the id of `tok`, or :attr:`unk_id` if it is unknown.

        Examples
        --------
        >>> from fastrnn.vocab import Vocabulary
        >>> vocab = Vocabulary(["<UNK>", "a", "b"])
        >>> vocab.token_to_id("b"), vocab.token_to_id("z")
        (2, 0)
        """
        if not isinstance(tok, str):
            raise TypeError(f"token must be a str, got {type(tok).__name__}")
        return self._index.get(tok, self._unk_id)

    def id_to_token(self, i: int) -> str:
        """Return the token with id `i`.

        Raises
        ------
        TypeError
            If `i` is not an integer (bools are rejected).
        IndexError
            If `i` is outside ``[0, len(self))``; negative ids are not
            wrapped around.

        Examples
        --------
        >>> from fastrnn.vocab import Vocabulary
        >>> Vocabulary(["<UNK>", "a", "b"]).id_to_token(1)
        'a'
        """
        if isinstance(i, (bool, np.bool_)):
            raise TypeError("id must be an integer, got bool")
        try:
            idx = operator.index(i)
        except TypeError:
            raise TypeError(f"id must be an integer, got {type(i).__name__}") from None
        if not 0 <= idx < len(self._tokens):
            raise IndexError(f"id {idx} is out of range [0, {len(self._tokens)})")
        return self._tokens[idx]

    # ------------------------------------------------------------------
    # text <-> ids
    # ------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Split `text` into tokens at this vocabulary's level.

        Tokens are returned whether or not they are in the vocabulary.

        Examples
        --------
        >>> from fastrnn.vocab import Vocabulary
        >>> Vocabulary(["<UNK>"], level="word").tokenize("Don't panic!")
        ['Don', "'", 't', 'panic', '!']
        >>> Vocabulary(["<UNK>"]).tokenize("hi!")
        ['h', 'i', '!']
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self._level == "char":
            return list(text)
        return _WORD_RE.findall(text)

    def encode(self, text: str) -> np.ndarray:
        """Convert `text` to a 1-d array of ids (dtype ``np.intp``).

        Out-of-vocabulary tokens map to :attr:`unk_id`.

        Raises
        ------
        TypeError
            If `text` is not a str.

        Examples
        --------
        >>> from fastrnn.vocab import Vocabulary
        >>> vocab = Vocabulary.from_text("banana")
        >>> vocab.tokens
        ('<UNK>', 'a', 'n', 'b')
        >>> vocab.encode("bandana")
        array([3, 1, 2, 0, 1, 2, 1])
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self._level == "word":
            get = self._index.get
            unk = self._unk_id
            return np.array(
                [get(t, unk) for t in _WORD_RE.findall(text)], dtype=np.intp
            )
        # Character level: vectorized lookup of code points.  "surrogatepass"
        # lets lone surrogates through (they simply map to <UNK>).
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        table = self._cp_sorted
        if not (table.size and cps.size):
            return np.full(cps.shape, self._unk_id, dtype=np.intp)
        lut = self._lut
        if lut is not None:
            # Dense table indexed by code point; its last entry is <UNK>.
            return lut.take(np.minimum(cps, lut.size - 1))
        pos = np.searchsorted(table, cps)
        np.minimum(pos, table.size - 1, out=pos)
        ids = self._cp_ids.take(pos)
        ids[table.take(pos) != cps] = self._unk_id
        return ids

    def _as_ids(self, ids: ArrayLike, what: str) -> np.ndarray:
        """Validate integer ids in range; return them as an intp array."""
        is_array = isinstance(ids, np.ndarray)
        try:
            arr = np.asarray(ids)
        except (TypeError, ValueError) as exc:  # ragged nested lists
            raise TypeError(f"{what} ids could not be converted to an array: {exc}") from None
        if not is_array and arr.size == 0:
            # e.g. [] -> float64 array; an empty list is a valid id sequence.
            return np.zeros(arr.shape, dtype=np.intp)
        kind = arr.dtype.kind
        if kind == "O":
            flat = arr.ravel().tolist()
            if not all(
                isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))
                for x in flat
            ):
                raise TypeError(f"{what} ids must be integers, got an object array")
            n = len(self._tokens)
            for pos, x in enumerate(flat):
                if not 0 <= x < n:
                    loc: Any = np.unravel_index(pos, arr.shape) if arr.ndim > 1 else pos
                    raise IndexError(
                        f"id {int(x)} at position {loc} is out of range [0, {n})"
                    )
            return arr.astype(np.intp)
        if kind not in "iu":
            raise TypeError(
                f"{what} ids must have an integer dtype, got {arr.dtype}"
            )
        n = len(self._tokens)
        bad = arr >= n
        if kind == "i":
            bad |= arr < 0
        if bad.any():
            flat_pos = int(np.argmax(bad.ravel()))
            value = arr.ravel()[flat_pos]
            loc = (
                tuple(int(k) for k in np.unravel_index(flat_pos, arr.shape))
                if arr.ndim > 1
                else flat_pos
            )
            raise IndexError(f"id {int(value)} at position {loc} is out of range [0, {n})")
        return arr.astype(np.intp, copy=False)

    def decode(self, ids: ArrayLike) -> str:
        """Convert a sequence of ids back to text.

        At character level tokens are concatenated; at word level they are
        joined with single spaces (so this is not an exact inverse of
        :meth:`encode`).  The unknown id decodes to :attr:`unk_token`.

        Parameters
        ----------
        ids : array_like of int
            0-d or 1-d integer ids.

        Raises
        ------
        TypeError
            If `ids` does not have an integer dtype (floats and bools are
            rejected).
        IndexError
            If an id is outside ``[0, len(self))``; the message names the id
            and its position.
        ValueError
            If `ids` has more than one dimension.

        Examples
        --------
        >>> from fastrnn.vocab import Vocabulary
        >>> vocab = Vocabulary(["<UNK>", "a", "b"])
        >>> vocab.decode([1, 2, 0, 1])
        'ab<UNK>a'
        >>> vocab.decode([1, 3])
        Traceback (most recent call last):
            ...
        IndexError: id 3 at position 1 is out of range [0, 3)
        """
        arr = self._as_ids(ids, "decode")
        if arr.ndim > 1:
            raise ValueError(f"decode expects 0-d or 1-d ids, got shape {arr.shape}")
        toks = self._token_array[arr.reshape(-1)].tolist()
        sep = "" if self._level == "char" else " "
        return sep.join(toks)

    def one_hot(self, ids: ArrayLike, dtype: DTypeLike = np.float64) -> np.ndarray:
        """Return a dense one-hot encoding of `ids`.

        Parameters
        ----------
        ids : array_like of int
            Ids of any shape.
        dtype : data-type, default np.float64
            Dtype of the result.

        Returns
        -------
        numpy.ndarray
            Array of shape ``ids.shape + (len(self),)`` with a single 1 per
            id along the last axis.

        Raises
        ------
        TypeError, IndexError
            As for :meth:`decode`.

        Examples
        --------
        >>> from fastrnn.vocab import Vocabulary
        >>> vocab = Vocabulary(["<UNK>", "a", "b"])
        >>> vocab.one_hot([2, 0])
        array([[0., 0., 1.],
               [1., 0., 0.]])
        >>> vocab.one_hot(vocab.encode("abba")).shape
        (4, 3)
        """
        arr = self._as_ids(ids, "one_hot")
        n = len(self._tokens)
        out = np.zeros(arr.shape + (n,), dtype=dtype)
        flat = out.reshape(-1, n)
        flat[np.arange(flat.shape[0]), arr.reshape(-1)] = 1
        return out

    # ------------------------------------------------------------------
    # persistence
    # ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serializable representation used by :meth:`save`."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "level": self._level,
            "unk_token": self._unk_token,
            "tokens": list(self._tokens),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the vocabulary as UTF-8 JSON, atomically.

        The file looks like ``{"format": "fastrnn.vocabulary", "version": 1,
        "level": ..., "unk_token": ..., "tokens": [...]}`` with non-ASCII
        characters written as-is.  The data is written to a temporary file
        in the same directory, flushed and fsynced, then moved onto `path`
        with :func:`os.replace`, so `path` never holds a partial file.  An
        existing file is overwritten.

        Raises
        ------
        ValueError
            If a token contains a lone surrogate, which UTF-8 cannot encode.

        Examples
        --------
        >>> import os, tempfile
        >>> from fastrnn.vocab import Vocabulary
        >>> vocab = Vocabulary.from_text("你好, world")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = os.path.join(d, "vocab.json")
        ...     vocab.save(path)
        ...     Vocabulary.load(path) == vocab
        True
        """
        for i, tok in enumerate(self._tokens):
            try:
                tok.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"cannot save token {i} ({tok!r}): it contains a lone "
                    "surrogate, which is not valid Unicode text"
                ) from None
        data = json.dumps(self.to_dict(), ensure_ascii=False, indent=1)
        atomic_write(path, lambda f: f.write((data + "\n").encode("utf-8")))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Load a vocabulary written by :meth:`save`.

        Raises
        ------
        OSError
            If the file cannot be read (e.g. FileNotFoundError).
        ValueError
            If the file is not valid UTF-8 or JSON (including truncated
            files), is not a fastrnn vocabulary, has a newer or unknown
            version, or its contents are invalid (tokens not a list of unique
            non-empty strings, `unk_token` missing, bad level).  The message
            names `path`.

        Examples
        --------
        >>> import os, tempfile
        >>> from fastrnn.vocab import Vocabulary
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = os.path.join(d, "v.json")
        ...     Vocabulary.from_text("a b a", level="word").save(path)
        ...     Vocabulary.load(path).tokens
        ('<UNK>', 'a', 'b')
        """
        where = os.fspath(path)
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{where!r} is not a valid vocabulary file: invalid UTF-8 ({exc})"
            ) from None
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:   # ValueError: also an int past 4300 digits
            raise ValueError(
                f"{where!r} is not a valid vocabulary file: invalid or truncated "
                f"JSON ({exc})"
            ) from None
        if not isinstance(obj, dict):
            raise ValueError(
                f"{where!r} is not a valid vocabulary file: expected a JSON "
                f"object, got {type(obj).__name__}"
            )
        fmt = obj.get("format")
        if fmt != FORMAT_NAME:
            raise ValueError(
                f"{where!r} is not a fastrnn vocabulary file: format is {fmt!r}, "
                f"expected {FORMAT_NAME!r}"
            )
        version = obj.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(
                f"{where!r}: unknown vocabulary file version {version!r}"
            )
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{where!r}: vocabulary file version {version} is newer than "
                f"the newest supported version ({FORMAT_VERSION}); upgrade fastrnn"
            )
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{where!r}: unknown vocabulary file version {version!r}"
            )
        level = obj.get("level")
        if level not in _LEVELS:
            raise ValueError(
                f"{where!r}: invalid level {level!r}, expected 'char' or 'word'"
            )
        unk_token = obj.get("unk_token")
        if not isinstance(unk_token, str):
            raise ValueError(
                f"{where!r}: unk_token must be a string, got {unk_token!r}"
            )
        tokens = obj.get("tokens")
        if not isinstance(tokens, list):
            raise ValueError(
                f"{where!r}: tokens must be a list of strings, got "
                f"{type(tokens).__name__}"
            )
        try:
            return cls(tokens, level=level, unk_token=unk_token)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where!r}: invalid vocabulary: {exc}") from None

    # ------------------------------------------------------------------
    # dunder methods
    # ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, tok: object) -> bool:
        return isinstance(tok, str) and tok in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (
            self._level == other._level
            and self._unk_token == other._unk_token
            and self._tokens == other._tokens
        )

    def __hash__(self) -> int:
        return hash((self._level, self._unk_token, self._tokens))

    def __repr__(self) -> str:
        shown = list(self._tokens[:8])
        more = len(self._tokens) - len(shown)
        toks = ", ".join(repr(t) for t in shown)
        if more:
            toks += f", ... ({more} more)"
        return (
            f"Vocabulary(level={self._level!r}, size={len(self._tokens)}, "
            f"unk_token={self._unk_token!r}, tokens=[{toks}])"
        )
