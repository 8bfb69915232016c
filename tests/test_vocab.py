"""Tests for fastrnn.vocab.Vocabulary."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from fastrnn.vocab import Vocabulary


def _write_json(path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)


def _valid_payload(**overrides):
    payload = {
        "format": "fastrnn.vocabulary",
        "version": 1,
        "level": "char",
        "unk_token": "<UNK>",
        "tokens": ["<UNK>", "a", "b"],
    }
    payload.update(overrides)
    return payload


# ----------------------------------------------------------------------
# construction and index order
# ----------------------------------------------------------------------
def test_char_order_frequency_then_first_appearance():
    # counts: a=5, b=2, r=2, c=1, d=1; b appears before r, c before d.
    vocab = Vocabulary.from_text("abracadabra")
    assert vocab.tokens == ("<UNK>", "a", "b", "r", "c", "d")
    assert vocab.unk_id == 0
    assert [vocab.token_to_id(t) for t in "abrcd"] == [1, 2, 3, 4, 5]


def test_tie_order_follows_first_appearance_not_alphabet():
    # every character occurs twice; order must be z, y, x (first appearance)
    vocab = Vocabulary.from_text("zyxxyz")
    assert vocab.tokens == ("<UNK>", "z", "y", "x")


def test_word_order_hand_worked():
    text = "the cat and the dog. The dog!"
    # tokens: the cat and the dog . The dog !
    # counts: the=2, dog=2, cat=1, and=1, .=1, The=1, !=1
    vocab = Vocabulary.from_text(text, level="word")
    assert vocab.tokens == ("<UNK>", "the", "dog", "cat", "and", ".", "The", "!")
    assert vocab.level == "word"


def test_order_is_deterministic_across_builds():
    text = "mississippi river" * 3
    a = Vocabulary.from_text(text)
    b = Vocabulary.from_text(text)
    assert a == b
    assert a.tokens == b.tokens


def test_specials_first_and_unk_inserted():
    vocab = Vocabulary.from_text("aab", specials=["<PAD>", "<EOS>"])
    assert vocab.tokens == ("<UNK>", "<PAD>", "<EOS>", "a", "b")
    assert vocab.unk_id == 0


def test_specials_order_kept_when_unk_given():
    vocab = Vocabulary.from_text("aab", specials=["<PAD>", "<UNK>"])
    assert vocab.tokens == ("<PAD>", "<UNK>", "a", "b")
    assert vocab.unk_id == 1
    assert vocab.encode("az").tolist() == [2, 1]


def test_duplicate_specials_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary.from_text("abc", specials=["<PAD>", "<PAD>"])


def test_min_freq():
    vocab = Vocabulary.from_text("abracadabra", min_freq=2)
    assert vocab.tokens == ("<UNK>", "a", "b", "r")
    # filtered tokens map to <UNK>
    assert vocab.encode("cad").tolist() == [0, 1, 0]
    assert Vocabulary.from_text("abc", min_freq=5).tokens == ("<UNK>",)
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.from_text("abc", min_freq=0)


def test_max_size_counts_specials():
    vocab = Vocabulary.from_text("abracadabra", max_size=3)
    assert len(vocab) == 3
    assert vocab.tokens == ("<UNK>", "a", "b")
    vocab = Vocabulary.from_text("abracadabra", max_size=3, specials=["<PAD>"])
    assert vocab.tokens == ("<UNK>", "<PAD>", "a")
    # exactly the specials is allowed
    assert Vocabulary.from_text("abc", max_size=1).tokens == ("<UNK>",)
    # larger than needed: no effect
    assert len(Vocabulary.from_text("abracadabra", max_size=100)) == 6


def test_max_size_smaller_than_specials_rejected():
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.from_text("abc", max_size=1, specials=["<UNK>", "<PAD>"])
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.from_text("abc", max_size=0)


def test_explicit_constructor_and_duplicates():
    vocab = Vocabulary(["<UNK>", "x", "y"], level="char")
    assert vocab.tokens == ("<UNK>", "x", "y")
    assert vocab.encode("yx?").tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(["<UNK>", "a", "a"])
    with pytest.raises(ValueError, match="unk_token"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="level"):
        Vocabulary(["<UNK>"], level="byte")
    with pytest.raises(TypeError):
        Vocabulary(["<UNK>", 3])
    with pytest.raises(TypeError):
        Vocabulary("<UNK>ab")


def test_custom_unk_token():
    vocab = Vocabulary(["a", "?"], unk_token="?")
    assert vocab.unk_token == "?"
    assert vocab.unk_id == 1
    assert vocab.encode("ab").tolist() == [0, 1]


def test_from_text_rejects_bad_level_and_text():
    with pytest.raises(ValueError, match="level"):
        Vocabulary.from_text("abc", level="sentence")
    with pytest.raises(TypeError):
        Vocabulary.from_text(b"abc")


# ----------------------------------------------------------------------
# encode / decode
# ----------------------------------------------------------------------
def test_char_round_trip():
    text = "Hello, world!\nSecond line\ttab."
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.intp
    assert ids.ndim == 1
    assert ids.shape == (len(text),)
    assert vocab.unk_id not in ids
    assert vocab.decode(ids) == text


def test_char_round_trip_unicode():
    text = "中文字符 😀👍🏽 e\u0301 cafe\u0301 Ωmega"
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert len(ids) == len(text)  # one id per code point
    assert vocab.decode(ids) == text
    assert "\u0301" in vocab  # combining mark is its own token


def test_word_round_trip_and_spacing():
    text = "the quick  brown\nfox, jumps!"
    vocab = Vocabulary.from_text(text, level="word")
    assert vocab.tokenize(text) == ["the", "quick", "brown", "fox", ",", "jumps", "!"]
    ids = vocab.encode(text)
    assert ids.dtype == np.intp
    assert ids.tolist() == [vocab.token_to_id(t) for t in vocab.tokenize(text)]
    # not an exact inverse: tokens joined with single spaces
    assert vocab.decode(ids) == "the quick brown fox , jumps !"
    # re-encoding the decoded text gives the same ids
    assert vocab.encode(vocab.decode(ids)).tolist() == ids.tolist()


def test_word_tokenizer_whitespace_never_a_token():
    vocab = Vocabulary(["<UNK>"], level="word")
    assert vocab.tokenize("  a\t\nb  ") == ["a", "b"]
    assert vocab.tokenize("") == []
    assert vocab.tokenize("e.g. x+=1") == ["e", ".", "g", ".", "x", "+", "=", "1"]


def test_unknown_tokens_map_to_unk():
    vocab = Vocabulary.from_text("abc")
    ids = vocab.encode("abxcz😀")
    assert ids.tolist() == [
        vocab.token_to_id("a"),
        vocab.token_to_id("b"),
        vocab.unk_id,
        vocab.token_to_id("c"),
        vocab.unk_id,
        vocab.unk_id,
    ]
    assert vocab.decode(ids) == "ab<UNK>c<UNK><UNK>"
    words = Vocabulary.from_text("hello world", level="word")
    assert words.encode("hello there world").tolist() == [
        words.token_to_id("hello"),
        words.unk_id,
        words.token_to_id("world"),
    ]
    assert words.token_to_id("there") == words.unk_id


def test_unk_mapping_with_large_code_points():
    # exercises the binary-search path (code points beyond the dense table)
    vocab = Vocabulary.from_text("a\U0010fffd")
    ids = vocab.encode("\U0010fffdab\U0001f600")
    assert ids.tolist() == [
        vocab.token_to_id("\U0010fffd"),
        vocab.token_to_id("a"),
        vocab.unk_id,
        vocab.unk_id,
    ]


def test_multichar_specials_not_produced_by_char_encode():
    vocab = Vocabulary.from_text("<a>", specials=["<UNK>", "<PAD>"])
    ids = vocab.encode("<PAD>")
    assert vocab.token_to_id("<PAD>") not in ids.tolist()
    assert ids.tolist() == [vocab.token_to_id("<")] + [vocab.unk_id] * 3 + [
        vocab.token_to_id(">")
    ]


def test_encode_empty_and_only_specials():
    vocab = Vocabulary.from_text("abc")
    empty = vocab.encode("")
    assert empty.shape == (0,)
    assert empty.dtype == np.intp
    assert vocab.decode(empty) == ""
    assert vocab.decode([]) == ""
    only_unk = Vocabulary(["<UNK>"])
    assert only_unk.encode("xyz").tolist() == [0, 0, 0]


def test_encode_large_text():
    rng = np.random.default_rng(0)
    alphabet = np.array(list("abcdefghij 中文😀\n"))
    text = "".join(alphabet[rng.integers(0, len(alphabet), 1_000_000)])
    vocab = Vocabulary.from_text(text, max_size=10)
    ids = vocab.encode(text)
    assert ids.shape == (1_000_000,)
    reference = np.fromiter(
        (vocab.token_to_id(c) for c in text), dtype=np.intp, count=len(text)
    )
    np.testing.assert_array_equal(ids, reference)


def test_encode_rejects_non_str():
    vocab = Vocabulary.from_text("abc")
    for bad in (b"abc", ["a", "b"], 3, None):
        with pytest.raises(TypeError):
            vocab.encode(bad)
    with pytest.raises(TypeError):
        vocab.tokenize(b"abc")
    with pytest.raises(TypeError):
        vocab.token_to_id(1)


def test_decode_accepts_integer_array_likes():
    vocab = Vocabulary(["<UNK>", "a", "b"])
    assert vocab.decode([1, 2]) == "ab"
    assert vocab.decode((2, 1)) == "ba"
    assert vocab.decode(np.array([1, 2], dtype=np.uint8)) == "ab"
    assert vocab.decode(np.array([1, 2], dtype=np.int16)) == "ab"
    assert vocab.decode(np.int64(2)) == "b"


def test_decode_out_of_range_names_id_and_position():
    vocab = Vocabulary(["<UNK>", "a", "b"])
    with pytest.raises(IndexError, match=r"id -1 at position 2"):
        vocab.decode([1, 2, -1])
    with pytest.raises(IndexError, match=r"id 3 at position 0"):
        vocab.decode([len(vocab), 1])
    with pytest.raises(IndexError, match=r"id 3 at position 1"):
        vocab.decode(np.array([0, 3], dtype=np.uint64))
    with pytest.raises(IndexError):
        vocab.decode([1, 2**70])


def test_decode_rejects_non_integer_dtypes():
    vocab = Vocabulary(["<UNK>", "a", "b"])
    with pytest.raises(TypeError):
        vocab.decode([1.0, 2.0])
    with pytest.raises(TypeError):
        vocab.decode(np.array([1, 2], dtype=np.float32))
    with pytest.raises(TypeError):
        vocab.decode([True, False])
    with pytest.raises(TypeError):
        vocab.decode(np.array([1, 0], dtype=bool))
    with pytest.raises(TypeError):
        vocab.decode(["a", "b"])


def test_decode_rejects_2d():
    vocab = Vocabulary(["<UNK>", "a"])
    with pytest.raises(ValueError):
        vocab.decode([[0, 1], [1, 0]])


def test_token_lookup_helpers():
    vocab = Vocabulary(["<UNK>", "a", "b"])
    assert vocab.token_to_id("a") == 1
    assert vocab.token_to_id("missing") == vocab.unk_id
    assert vocab.id_to_token(2) == "b"
    assert vocab.id_to_token(np.int32(1)) == "a"
    with pytest.raises(IndexError):
        vocab.id_to_token(3)
    with pytest.raises(IndexError):
        vocab.id_to_token(-1)
    with pytest.raises(TypeError):
        vocab.id_to_token(1.0)
    with pytest.raises(TypeError):
        vocab.id_to_token(True)


# ----------------------------------------------------------------------
# one_hot
# ----------------------------------------------------------------------
def test_one_hot_matches_eye():
    vocab = Vocabulary.from_text("hello world")
    ids = vocab.encode("lower held")
    oh = vocab.one_hot(ids)
    assert oh.shape == (len(ids), len(vocab))
    assert oh.dtype == np.float64
    np.testing.assert_array_equal(oh, np.eye(len(vocab))[ids])
    np.testing.assert_array_equal(oh.argmax(axis=-1), ids)
    np.testing.assert_array_equal(oh.sum(axis=-1), np.ones(len(ids)))


def test_one_hot_nd_dtype_and_edge_cases():
    vocab = Vocabulary(["<UNK>", "a", "b", "c"])
    ids = np.array([[0, 3, 1], [2, 2, 0]])
    oh = vocab.one_hot(ids, dtype=np.float32)
    assert oh.shape == (2, 3, 4)
    assert oh.dtype == np.float32
    np.testing.assert_array_equal(oh, np.eye(4, dtype=np.float32)[ids])
    scalar = vocab.one_hot(2)
    np.testing.assert_array_equal(scalar, np.eye(4)[2])
    assert vocab.one_hot([]).shape == (0, 4)
    with pytest.raises(IndexError, match=r"id 4 at position \(1, 0\)"):
        vocab.one_hot([[0, 1], [4, 0]])
    with pytest.raises(IndexError):
        vocab.one_hot([-1])
    with pytest.raises(TypeError):
        vocab.one_hot([0.0, 1.0])


# ----------------------------------------------------------------------
# dunder methods
# ----------------------------------------------------------------------
def test_len_contains_iter_eq_repr_hash():
    vocab = Vocabulary.from_text("abca")
    assert len(vocab) == 4
    assert "a" in vocab and "<UNK>" in vocab
    assert "z" not in vocab
    assert 1 not in vocab
    assert list(vocab) == ["<UNK>", "a", "b", "c"]
    assert vocab == Vocabulary(["<UNK>", "a", "b", "c"])
    assert vocab != Vocabulary(["<UNK>", "a", "c", "b"])
    assert vocab != Vocabulary(["<UNK>", "a", "b", "c"], level="word")
    assert vocab != ["<UNK>", "a", "b", "c"]
    assert hash(vocab) == hash(Vocabulary(["<UNK>", "a", "b", "c"]))
    text = repr(vocab)
    assert text.startswith("Vocabulary(")
    assert "size=4" in text and "'char'" in text and "'<UNK>'" in text
    big = Vocabulary.from_text("".join(chr(0x4E00 + i) for i in range(50)))
    assert "more" in repr(big)
    assert len(repr(big)) < 300


# ----------------------------------------------------------------------
# save / load
# ----------------------------------------------------------------------
@pytest.mark.parametrize("level", ["char", "word"])
def test_save_load_round_trip_unicode(tmp_path, level):
    text = "中文 测试 文本。 emoji 😀 👍🏽 naïve cafe\u0301 Ω ∑ \u200d"
    vocab = Vocabulary.from_text(text, level=level, specials=["<PAD>", "<UNK>"])
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab
    assert loaded.tokens == vocab.tokens
    assert loaded.level == level
    assert loaded.unk_id == vocab.unk_id
    np.testing.assert_array_equal(loaded.encode(text), vocab.encode(text))
    if level == "char":
        assert loaded.decode(loaded.encode(text)) == text


def test_saved_file_is_readable_utf8_json(tmp_path):
    vocab = Vocabulary.from_text("你好😀")
    path = tmp_path / "v.json"
    vocab.save(str(path))
    raw = path.read_bytes()
    assert "你好".encode("utf-8")[:3] in raw  # written as UTF-8, not \u escapes
    obj = json.loads(raw.decode("utf-8"))
    assert obj == {
        "format": "fastrnn.vocabulary",
        "version": 1,
        "level": "char",
        "unk_token": "<UNK>",
        "tokens": ["<UNK>", "你", "好", "😀"],
    }


def test_save_is_atomic_overwrites_and_leaves_no_temp(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text("old contents", encoding="utf-8")
    (tmp_path / "other.txt").write_text("x", encoding="utf-8")
    vocab = Vocabulary.from_text("abc")
    vocab.save(path)
    assert sorted(os.listdir(tmp_path)) == ["other.txt", "vocab.json"]
    assert Vocabulary.load(path) == vocab
    vocab2 = Vocabulary.from_text("xyz", level="word")
    vocab2.save(path)
    assert sorted(os.listdir(tmp_path)) == ["other.txt", "vocab.json"]
    assert Vocabulary.load(path) == vocab2


def test_save_failure_removes_temp_and_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "vocab.json"
    Vocabulary.from_text("abc").save(path)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("simulated failure")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        Vocabulary.from_text("xyz").save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["vocab.json"]
    assert path.read_bytes() == before


def test_save_rejects_lone_surrogate(tmp_path):
    vocab = Vocabulary.from_text("a\ud800")
    assert vocab.decode(vocab.encode("a\ud800")) == "a\ud800"
    with pytest.raises(ValueError, match="surrogate"):
        vocab.save(tmp_path / "v.json")
    assert os.listdir(tmp_path) == []


def test_load_rejects_truncated_file(tmp_path):
    path = tmp_path / "v.json"
    Vocabulary.from_text("你好 world").save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="v.json"):
        Vocabulary.load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="JSON"):
        Vocabulary.load(path)


def test_load_rejects_invalid_utf8(tmp_path):
    path = tmp_path / "bad.json"
    good = json.dumps(_valid_payload(), ensure_ascii=False).encode("utf-8")
    path.write_bytes(good.replace(b'"a"', b'"\xff\xfe"'))
    with pytest.raises(ValueError, match="UTF-8") as info:
        Vocabulary.load(path)
    assert "bad.json" in str(info.value)


def test_load_rejects_invalid_json(tmp_path):
    path = tmp_path / "v.json"
    path.write_text("{not json}", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON"):
        Vocabulary.load(path)
    _write_json(path, ["<UNK>", "a"])
    with pytest.raises(ValueError, match="object"):
        Vocabulary.load(path)


def test_load_rejects_an_integer_beyond_pythons_digit_limit(tmp_path):
    path = tmp_path / "v.json"
    path.write_text('{"version": ' + "9" * 5000 + "}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"v\.json.* is not a valid vocabulary file"):
        Vocabulary.load(path)


def test_load_rejects_wrong_format(tmp_path):
    path = tmp_path / "v.json"
    _write_json(path, _valid_payload(format="something.else"))
    with pytest.raises(ValueError, match="format") as info:
        Vocabulary.load(path)
    assert "v.json" in str(info.value)
    payload = _valid_payload()
    del payload["format"]
    _write_json(path, payload)
    with pytest.raises(ValueError, match="format"):
        Vocabulary.load(path)


def test_load_rejects_newer_or_unknown_version(tmp_path):
    path = tmp_path / "v.json"
    _write_json(path, _valid_payload(version=2))
    with pytest.raises(ValueError, match="newer"):
        Vocabulary.load(path)
    for bad in (0, "1", 1.5, None, True):
        _write_json(path, _valid_payload(version=bad))
        with pytest.raises(ValueError, match="version"):
            Vocabulary.load(path)


def test_load_rejects_bad_tokens(tmp_path):
    path = tmp_path / "v.json"
    for bad_tokens in ("<UNK>ab", {"<UNK>": 0}, None, 5):
        _write_json(path, _valid_payload(tokens=bad_tokens))
        with pytest.raises(ValueError, match="tokens must be a list"):
            Vocabulary.load(path)
    _write_json(path, _valid_payload(tokens=["<UNK>", "a", 3]))
    with pytest.raises(ValueError, match="expected str"):
        Vocabulary.load(path)
    _write_json(path, _valid_payload(tokens=["<UNK>", "a", "a"]))
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary.load(path)
    _write_json(path, _valid_payload(tokens=["a", "b"]))
    with pytest.raises(ValueError, match="unk_token"):
        Vocabulary.load(path)
    _write_json(path, _valid_payload(level="sentence"))
    with pytest.raises(ValueError, match="level"):
        Vocabulary.load(path)
    _write_json(path, _valid_payload(unk_token=None))
    with pytest.raises(ValueError, match="unk_token"):
        Vocabulary.load(path)


def test_load_accepts_hand_written_valid_file(tmp_path):
    path = tmp_path / "v.json"
    _write_json(path, _valid_payload(tokens=["a", "<UNK>", "中"]))
    vocab = Vocabulary.load(path)
    assert vocab.tokens == ("a", "<UNK>", "中")
    assert vocab.unk_id == 1
    assert vocab.encode("中a?").tolist() == [2, 0, 1]


def test_load_missing_file_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        Vocabulary.load(tmp_path / "does-not-exist.json")
