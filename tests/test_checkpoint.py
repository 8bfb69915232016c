"""Checkpoint files: round trip, atomic replacement, and every kind of bad file."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn.checkpoint import FORMAT_NAME, FORMAT_VERSION, load_checkpoint, save_checkpoint
from fastrnn.optim import make_optimizer

# the directory holding the fastrnn under test (src/ or site-packages), for subprocesses
SRC = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))


def _model_parts(V_text="hello world", H=6, dtype=np.float32):
    vocab = fastrnn.Vocabulary.from_text(V_text)
    params = fastrnn.init_params(len(vocab), H, dtype=dtype, seed=1)
    return vocab, params


def _save(path, **kw):
    vocab, params = _model_parts()
    args = dict(hyperparams={"hidden_size": 6}, step=7)
    args.update(kw)
    save_checkpoint(path, params, vocab, **args)
    return vocab, params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip(tmp_path, dtype):
    vocab, params = _model_parts("日本語 text, ümlauts", dtype=dtype)
    H = params["Waa"].shape[0]
    opt = make_optimizer("adam", params, lr=0.01)
    opt.step({k: np.ones_like(v) for k, v in params.items()})
    a0 = np.linspace(-1, 1, H).astype(dtype)
    path = tmp_path / "m.npz"
    save_checkpoint(path, params, vocab, hyperparams={"hidden_size": H, "note": "ü"},
                    step=12, a0=a0, optimizer_state=opt.state_dict(),
                    meta={"history": [{"step": 1, "val_loss": None}]},
                    arrays={"carry": np.ones((3, H), dtype)})
    ck = load_checkpoint(path)
    assert ck.vocab == vocab
    assert ck.step == 12
    assert ck.hyperparams == {"hidden_size": H, "note": "ü"}
    assert ck.meta == {"history": [{"step": 1, "val_loss": None}]}
    for k in params:
        np.testing.assert_array_equal(ck.params[k], params[k])
        assert ck.params[k].dtype == dtype
    np.testing.assert_array_equal(ck.a0, a0)
    state = opt.state_dict()
    assert set(ck.optimizer_state) == set(state)
    for k in state:
        np.testing.assert_array_equal(ck.optimizer_state[k], state[k])
    np.testing.assert_array_equal(ck.arrays["carry"], np.ones((3, H)))
    # readable with plain numpy, no pickle; the keys the format promises
    with np.load(path, allow_pickle=False) as z:
        assert str(z["format"]) == FORMAT_NAME and int(z["version"]) == FORMAT_VERSION
        assert json.loads(str(z["vocab"]))["tokens"] == list(vocab.tokens)
        assert "opt.m.Wax" in z.files and "param.Wax" in z.files
        assert all(z[k].dtype != object for k in z.files)


def test_no_npz_suffix_added_and_mode_kept(tmp_path):
    path = tmp_path / "model.ckpt"
    _save(path)
    assert os.listdir(tmp_path) == ["model.ckpt"]
    os.chmod(path, 0o640)
    _save(path, step=8)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert load_checkpoint(path).step == 8


def test_save_rejects_unstorable_values_without_writing(tmp_path):
    path = tmp_path / "m.npz"
    with pytest.raises(TypeError, match="hyperparams"):
        _save(path, hyperparams={"f": object()})
    with pytest.raises(TypeError, match="object"):
        _save(path, arrays={"x": np.array([None])})
    assert os.listdir(tmp_path) == []


def test_failed_save_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    _save(path, step=1)

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(path, step=2)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m.npz"]
    assert load_checkpoint(path).step == 1


# -- rejected files ------------------------------------------------------------------
def _rewrite(src, dst, *, drop=(), replace=None):
    """Copy an npz, dropping or replacing entries."""
    with np.load(src, allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files if k not in drop}
    entries.update(replace or {})
    np.savez(dst, **entries)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_checkpoint(tmp_path / "nope.npz")


def test_directory(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("cut", [0, 10, 100, 0.5, -22])
def test_truncated(tmp_path, cut):
    path = tmp_path / "m.npz"
    _save(path)
    data = path.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut % len(data)
    path.write_bytes(data[:n])
    with pytest.raises(ValueError, match="m.npz"):
        load_checkpoint(path)


def test_corrupt_member(tmp_path):
    path = tmp_path / "m.npz"
    _save(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("param.Waa.npy")
    # flip bytes inside the member's data: the CRC check must catch it
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    for i in range(start, start + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_not_an_archive(tmp_path):
    path = tmp_path / "m.npz"
    path.write_text("hello, I am text\n")
    with pytest.raises(ValueError, match="not an .npz"):
        load_checkpoint(path)
    np.save(path.with_suffix(".npy"), np.arange(3))
    with pytest.raises(ValueError, match=r"\.npy"):
        load_checkpoint(path.with_suffix(".npy"))


def test_pickled_entries_refused(tmp_path):
    path = tmp_path / "m.npz"
    _save(path)
    _rewrite(path, path, replace={"evil": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="pickle"):
        load_checkpoint(path)


def test_foreign_npz(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, W=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastrnn checkpoint.*'format'"):
        load_checkpoint(path)
    np.savez(path, format=np.array("something.else"), version=np.array(1))
    with pytest.raises(ValueError, match="something.else"):
        load_checkpoint(path)


def test_newer_version(tmp_path):
    path = tmp_path / "m.npz"
    _save(path)
    _rewrite(path, path, replace={"version": np.array(FORMAT_VERSION + 1)})
    with pytest.raises(ValueError, match="newer.*upgrade fastrnn"):
        load_checkpoint(path)
    _rewrite(path, path, replace={"version": np.array("1")})
    with pytest.raises(ValueError, match="version"):
        load_checkpoint(path)


@pytest.mark.parametrize("key", ["vocab", "hyperparams", "step", "param.Waa", "param.by"])
def test_missing_entry(tmp_path, key):
    path = tmp_path / "m.npz"
    _save(path)
    _rewrite(path, path, drop=[key])
    with pytest.raises(ValueError, match=f"missing.*{key}"):
        load_checkpoint(path)


def test_inconsistent_shapes(tmp_path):
    path = tmp_path / "m.npz"
    vocab, params = _save(path)
    H, V = params["Wax"].shape
    bad = {
        "param.Waa": np.zeros((H + 1, H + 1), np.float32),
        "param.ba": np.zeros(H + 1, np.float32),
        "param.Wya": np.zeros((V + 1, H), np.float32),
        "param.by": np.zeros(V - 1, np.float32),
        "param.Wax": np.zeros((H, V + 2), np.float32),  # vs the vocabulary size
    }
    for key, value in bad.items():
        _rewrite(path, tmp_path / "bad.npz", replace={key: value})
        with pytest.raises(ValueError, match="bad.npz.*shape"):
            load_checkpoint(tmp_path / "bad.npz")


def test_bad_dtypes_and_entries(tmp_path):
    path = tmp_path / "m.npz"
    vocab, params = _save(path, a0=np.zeros(6, np.float32),
                          optimizer_state={"m.Waa": np.zeros((6, 6), np.float32)})
    cases = {
        "param.Waa": (params["Waa"].astype(np.float64), "one dtype"),
        "param.ba": (params["ba"].astype(np.int32), "float32 or float64"),
        "a0": (np.zeros(5, np.float32), "a0"),
        "opt.m.Waa": (np.zeros((5, 6), np.float32), "optimizer entry"),
        "vocab": (np.array("{not json"), "JSON"),
        "hyperparams": (np.array("[1, 2]"), "JSON object"),
        "step": (np.array(-1), "step"),
    }
    for key, (value, match) in cases.items():
        _rewrite(path, tmp_path / "bad.npz", replace={key: value})
        with pytest.raises(ValueError, match=match):
            load_checkpoint(tmp_path / "bad.npz")
    vocab_json = json.dumps({"format": "fastrnn.vocabulary", "version": 2, "tokens": []})
    _rewrite(path, tmp_path / "bad.npz", replace={"vocab": np.array(vocab_json)})
    with pytest.raises(ValueError, match="vocabulary version 2 is newer"):
        load_checkpoint(tmp_path / "bad.npz")



@pytest.mark.parametrize("member", ["format.npy", "param.Waa.npy", "vocab.npy", "extra.bin"])
def test_member_not_in_npy_format(tmp_path, member):
    # NpzFile hands a member that is not an .npy file over as raw bytes
    path = tmp_path / "m.npz"
    _save(path)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members[member] = b"raw bytes, not an array"
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    bad = member[:-4] if member.endswith(".npy") else member
    with pytest.raises(ValueError, match=f"member '{re.escape(bad)}' is not a NumPy array"):
        load_checkpoint(tmp_path / "bad.npz")


@pytest.mark.parametrize("key", ["vocab", "hyperparams", "meta"])
@pytest.mark.parametrize("text, match", [
    ('{"version": ' + "9" * 5000 + "}", "is not valid JSON"),   # past int's 4300 digits
    ("[" * 100000 + "]" * 100000, "is JSON nested too deeply"),
])
def test_json_that_python_cannot_read(tmp_path, key, text, match):
    path = tmp_path / "m.npz"
    _save(path)
    _rewrite(path, tmp_path / "bad.npz", replace={key: np.array(text)})
    with pytest.raises(ValueError, match=f"entry '{key}' {match}"):
        load_checkpoint(tmp_path / "bad.npz")


def test_atomic_write_refuses_a_pipe_and_follows_a_symlink(tmp_path):
    # the rename would turn a device or pipe (/dev/null as root) into a file
    import stat
    from fastrnn._util import atomic_write
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write(fifo, lambda f: f.write(b"x"))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]   # no temporary left
    target, link = tmp_path / "target", tmp_path / "link"
    target.write_bytes(b"old")
    os.symlink(target, link)
    atomic_write(link, lambda f: f.write(b"new"))
    assert os.path.islink(link) and target.read_bytes() == b"new"

# -- atomic replacement under SIGKILL ---------------------------------------------------
_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import fastrnn
    from fastrnn.checkpoint import save_checkpoint
    path = sys.argv[1]
    vocab = fastrnn.Vocabulary.from_text("abcdefgh")
    params = fastrnn.init_params(len(vocab), 1200, dtype=np.float64, seed=0)  # ~12 MB
    print("ready", flush=True)
    step = 1
    while True:
        save_checkpoint(path, params, vocab, step=step)
        step += 1
""")


def test_sigkill_mid_save_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "big.npz"
    vocab = fastrnn.Vocabulary.from_text("abcdefgh")
    params = fastrnn.init_params(len(vocab), 1200, dtype=np.float64, seed=0)
    save_checkpoint(path, params, vocab, step=0)
    pythonpath = [SRC] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    rng = np.random.default_rng(0)
    for trial in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], env=env,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            # wait until a temporary file is being written, then a bit more
            deadline = time.monotonic() + 30
            while not any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
                assert time.monotonic() < deadline, "the writer never started a save"
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.05))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        ck = load_checkpoint(path)  # the old or a new checkpoint, whole
        np.testing.assert_array_equal(ck.params["Waa"], params["Waa"])
        # a killed writer cannot clean up: its temp file is recognisable, and harmless
        for name in os.listdir(tmp_path):
            if name != "big.npz":
                assert name.startswith(".big.npz.") and name.endswith(".tmp")
                os.unlink(tmp_path / name)
