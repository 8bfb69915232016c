"""TBPTT batching (fastrnn.data) and the built-in corpus (fastrnn.corpus)."""
import numpy as np
import pytest

from fastrnn.corpus import CORPUS_MODULES, default_corpus
from fastrnn.data import TBPTTBatches, as_ids, split_ids


@pytest.mark.parametrize("n,B,S", [(101, 4, 10), (11, 2, 3), (2, 1, 1), (1000, 7, 13),
                                   (50, 1, 64), (33, 32, 5)])
def test_windows_tile_the_streams(n, B, S):
    ids = np.arange(n)
    b = TBPTTBatches(ids, B, S)
    L = (n - 1) // B
    assert b.stream_len == L
    X = np.concatenate([x for x, _ in b], axis=1)
    Y = np.concatenate([y for _, y in b], axis=1)
    # stream b is ids[b*L : (b+1)*L], its targets the next tokens
    np.testing.assert_array_equal(X, ids[: B * L].reshape(B, L))
    np.testing.assert_array_equal(Y, X + 1)
    assert b.n_tokens == X.size == B * L
    assert len(b) == -(-L // S)
    for x, y in b:
        assert x.flags.c_contiguous and y.flags.c_contiguous
        assert x.dtype == np.intp and x.shape[0] == B and 1 <= x.shape[1] <= S


def test_consecutive_windows_continue_each_stream():
    b = TBPTTBatches(np.arange(1001), 5, 16)
    for (x1, y1), (x2, _) in zip(b, list(b)[1:]):
        # the input after a window's last target is that target
        np.testing.assert_array_equal(x2[:, 0], y1[:, -1])


def test_last_short_window_kept_or_dropped():
    ids = np.arange(101)
    kept = TBPTTBatches(ids, 4, 10)
    assert [x.shape[1] for x, _ in kept] == [10, 10, 5]
    dropped = TBPTTBatches(ids, 4, 10, drop_last=True)
    assert [x.shape[1] for x, _ in dropped] == [10, 10]
    assert dropped.n_tokens == 80
    with pytest.raises(ValueError, match="drop_last"):
        TBPTTBatches(np.arange(20), 4, 10, drop_last=True)


def test_indexing():
    b = TBPTTBatches(np.arange(101), 4, 10)
    np.testing.assert_array_equal(b[-1][0], b[2][0])
    with pytest.raises(IndexError):
        b[3]
    with pytest.raises(TypeError):
        b[1.0]
    assert "windows=3" in repr(b)


@pytest.mark.parametrize("ids,B,S,exc,match", [
    (np.arange(4), 4, 2, ValueError, "at least batch_size"),
    (np.arange(10), 0, 2, ValueError, "batch_size"),
    (np.arange(10), 2, 0, ValueError, "seq_len"),
    (np.arange(10), 2.0, 2, TypeError, "batch_size"),
    (np.arange(10), True, 2, TypeError, "batch_size"),
    (np.arange(10.0), 2, 2, TypeError, "integer"),
    (np.arange(10).reshape(2, 5), 1, 2, ValueError, "1-d"),
    (np.array([0, 1, -1, 2]), 1, 2, ValueError, "negative id -1 at \\[2\\]"),
])
def test_bad_arguments(ids, B, S, exc, match):
    with pytest.raises(exc, match=match):
        TBPTTBatches(ids, B, S)


def test_as_ids_accepts_lists_and_empty():
    assert as_ids([3, 1]).dtype == np.intp
    assert as_ids([]).shape == (0,)


def test_split_ids():
    train, val = split_ids(np.arange(100), 0.1)
    np.testing.assert_array_equal(train, np.arange(90))
    np.testing.assert_array_equal(val, np.arange(90, 100))
    train, val = split_ids(np.arange(100), 0.0)
    assert train.size == 100 and val.size == 0
    train, val = split_ids(np.arange(10), 0.01)  # at least 2 held out
    assert val.size == 2
    for bad in (1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="val_fraction"):
            split_ids(np.arange(10), bad)
    with pytest.raises(TypeError):
        split_ids(np.arange(10), "0.1")
    with pytest.raises(ValueError, match="fewer than 2"):
        split_ids(np.arange(3), 0.5)


def test_default_corpus_is_large_deterministic_prose():
    text = default_corpus()
    assert len(text) > 100_000
    assert text == default_corpus()
    assert len(set(text)) < 200  # a char-level vocabulary of sensible size
    assert "\n\n" not in text and "  " not in text
    words = text.split()
    assert sum(w.isalpha() for w in words) > 0.6 * len(words)  # mostly words


def test_default_corpus_max_chars_cuts_at_a_paragraph():
    text = default_corpus()
    short = default_corpus(max_chars=5000)
    assert len(short) <= 5000 and short.endswith("\n")
    assert text.startswith(short)
    assert len(default_corpus(max_chars=3)) == 3
    with pytest.raises(ValueError):
        default_corpus(max_chars=0)
    with pytest.raises(TypeError):
        default_corpus(max_chars=1.5)


def test_corpus_modules_sorted_and_unique():
    assert list(CORPUS_MODULES) == sorted(set(CORPUS_MODULES))


def test_seq_len_beyond_any_array_dimension_is_one_window():
    # a seq_len past intp (no reshape can hold it) is longer than the streams:
    # one window of the whole stream, as for any seq_len >= its length
    b = TBPTTBatches(np.arange(50), 2, 10**20)
    c = TBPTTBatches(np.arange(50), 2, 24)
    assert len(b) == len(c) == 1
    for (X, Y), (Xc, Yc) in zip(b, c):
        np.testing.assert_array_equal(X, Xc)
        np.testing.assert_array_equal(Y, Yc)
