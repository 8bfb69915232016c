"""The fastrnn command, run in-process through main([...]) (and once as python -m)."""
import importlib.util
import io
import os
import re
import stat
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import cli
from fastrnn.cli import main
from fastrnn.models import LanguageModel

# the directory holding the fastrnn under test (src/ or site-packages), for subprocesses
SRC = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
TEXT = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
        "it was the age of foolishness.\n") * 12
SMALL = ["--hidden", "12", "--seq-len", "16", "--batch-size", "4", "--eval-every", "5",
         "--no-progress"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _train(capsys, corpus, out, *extra):
    return _run(capsys, "train", corpus, *SMALL, "--steps", "12", "--out", out,
                "--sample-every", "10", "--sample-length", "20", *extra)


def test_train_then_sample(capsys, tmp_path, corpus):
    out = tmp_path / "m.npz"
    code, stdout, err = _train(capsys, corpus, out)
    assert code == 0, err
    assert "Traceback" not in err
    assert f"model saved to {out}" in stdout
    assert "trained 12 steps" in stdout and "final held-out loss:" in stdout
    assert "perplexity" in stdout
    assert "--- sample at step 10" in stdout and stdout.count("sample ") >= 4
    m = LanguageModel.load(out)
    assert m.step_ == 12 and m.hidden_size == 12 and m.vocab.level == "char"
    assert [h["step"] for h in m.history_] == [5, 10, 12]

    code, s1, err = _run(capsys, "sample", out, "--length", "40", "--seed", "3",
                         "--prime", "It was", "--temperature", "0.7", "--top-k", "5")
    assert code == 0, err
    expected = m.sample(40, prime="It was", seed=3, temperature=0.7, top_k=5)
    assert s1 == "It was" + expected + "\n"
    assert _run(capsys, "sample", out, "--length", "40", "--seed", "3", "--prime", "It was",
                "--temperature", "0.7", "--top-k", "5")[1] == s1
    code, s2, _ = _run(capsys, "sample", out, "--length", "300", "--stop", ".", "--seed", "0")
    assert code == 0 and (s2.rstrip("\n").endswith(".") or len(s2) == 301)


def test_resume_continues_exactly(capsys, tmp_path, corpus):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert _run(capsys, "train", corpus, *SMALL, "--steps", "14", "--out", a,
                "--sample-every", "0")[0] == 0
    assert _run(capsys, "train", corpus, *SMALL, "--steps", "6", "--out", b,
                "--sample-every", "0")[0] == 0
    # flags not given come from the checkpoint; --out defaults to the resumed file
    code, out, err = _run(capsys, "train", corpus, "--resume", b, "--steps", "8",
                          "--no-progress", "--eval-every", "5", "--sample-every", "0")
    assert code == 0, err
    assert "resumed from" in out and f"model saved to {b}" in out
    ma, mb = LanguageModel.load(a), LanguageModel.load(b)
    assert mb.step_ == 14
    for k in ma.params:
        np.testing.assert_array_equal(ma.params[k], mb.params[k])


def test_resume_conflicts(capsys, tmp_path, corpus):
    m = tmp_path / "m.npz"
    assert _train(capsys, corpus, m)[0] == 0
    for flags, match in ((["--hidden", "13"], "--hidden 13 conflicts"),
                         (["--level", "word"], "--level word conflicts"),
                         (["--max-vocab", "5"], "--max-vocab")):
        code, _, err = _run(capsys, "train", corpus, "--resume", m, *flags)
        assert code == 2 and match in err and err.count("\n") == 1



def _edit_json_entry(path, key, edit):
    """Rewrite one JSON entry of a checkpoint (as a damaged or hand-made file)."""
    import json
    with np.load(path, allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    obj = json.loads(str(entries[key]))
    edit(obj)
    entries[key] = np.array(json.dumps(obj))
    np.savez(path, **entries)


@pytest.mark.parametrize("key, edit, match", [
    ("hyperparams", lambda h: h["fit"].update(seq_len=0), "seq_len must be >= 1"),
    ("hyperparams", lambda h: h["fit"].update(batch_size="x"), "batch_size must be an integer"),
    ("hyperparams", lambda h: h["fit"].update(lr="fast"), "lr must be a number"),
    ("hyperparams", lambda h: h["fit"].update(optimizer="bogus"), "unknown optimizer 'bogus'"),
    ("hyperparams", lambda h: h["fit"].update(clip=-1), "clip must be a positive"),
    ("hyperparams", lambda h: h["fit"].update(clip_mode="zzz"), "clip_mode must be"),
    ("hyperparams", lambda h: h.update(fit="abc"), "fit settings must be a JSON object"),
    ("meta", lambda m: m.update(history=[1, 2, 3]), r"history\[0\] must be a JSON object"),
    ("meta", lambda m: m.update(history=[{"step": 5}]), r"train_loss.. must be a number"),
    ("meta", lambda m: m.update(optimizer=["adam"]), r"unknown optimizer \['adam'\]"),
])
def test_resume_refuses_a_bad_training_state(capsys, tmp_path, corpus, key, edit, match):
    # the saved fit settings become the resumed run's defaults, the history
    # its plot: a damaged one is a one-line error naming the file, exit 2
    m = tmp_path / "m.npz"
    assert _train(capsys, corpus, m)[0] == 0
    _edit_json_entry(m, key, edit)
    code, _, err = _run(capsys, "train", corpus, "--resume", m, "--steps", "1",
                        "--no-progress", "--sample-every", "0")
    assert code == 2 and err.count("\n") == 1, err
    assert str(m) in err and re.search(match, err), err


def test_resume_refuses_a_carried_state_of_another_batch_size(capsys, tmp_path, corpus):
    m = tmp_path / "m.npz"
    assert _train(capsys, corpus, m)[0] == 0   # 12 steps: stops mid-pass, carrying a state
    with np.load(m, allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    assert entries["array.carry"].shape[0] == 4
    entries["array.carry"] = np.concatenate([entries["array.carry"]] * 2)
    np.savez(m, **entries)
    code, _, err = _run(capsys, "train", corpus, "--resume", m, "--steps", "1",
                        "--no-progress", "--sample-every", "0")
    assert code == 2 and "carried state has shape (8, 12)" in err, err


def test_outputs_never_overwrite_inputs_or_each_other(capsys, tmp_path, corpus):
    m = tmp_path / "m.npz"
    before = open(corpus, "rb").read()
    cases = [
        (["train", corpus, "--out", corpus], "--out .* is also the corpus"),
        (["train", corpus, "--out", m, "--plot", m], "--plot .* is also the --out"),
        (["train", corpus, "--out", m, "--plot", corpus], "--plot .* is also the corpus"),
    ]
    for argv, match in cases:
        code, _, err = _run(capsys, *argv, *SMALL, "--steps", "2")
        assert code == 2 and re.search(match, err) and err.count("\n") == 1, err
    assert open(corpus, "rb").read() == before and not m.exists()
    assert _train(capsys, corpus, m)[0] == 0
    saved = m.read_bytes()
    for argv, match in [(["sample", m, "--plot-states", m], "--plot-states .* is also the model"),
                        (["train", corpus, "--resume", m, "--plot", m], "--plot .* is also")]:
        code, _, err = _run(capsys, *argv)
        assert code == 2 and re.search(match, err), err
    assert m.read_bytes() == saved


def test_out_that_is_not_a_regular_file_is_refused(capsys, tmp_path, corpus):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = _run(capsys, "train", corpus, *SMALL, "--steps", "2", "--out", fifo)
    assert code == 2 and "is not a regular file" in err, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_lengths_beyond_memory(capsys, tmp_path, corpus):
    # a sample too long for memory during training: a warning, the training
    # goes on and is saved; `sample --length` that long: a one-line error
    m = tmp_path / "m.npz"
    code, out, err = _run(capsys, "train", corpus, *SMALL, "--steps", "12", "--out", m,
                          "--sample-every", "5", "--sample-length", str(2**62))
    assert code == 0 and "model saved" in out, err
    assert err.count("--sample-length: not enough memory") == 1, err
    assert LanguageModel.load(m).step_ == 12
    code, _, err = _run(capsys, "sample", m, "--length", str(2**63 - 1))
    assert code == 2 and "argument --length: not enough memory" in err
    assert err.count("\n") == 1, err


def test_seq_len_beyond_any_array_dimension(capsys, tmp_path, corpus):
    # longer than the text: one window of the whole stream
    code, _, err = _run(capsys, "train", corpus, *SMALL, "--steps", "2", "--out",
                        tmp_path / "m.npz", "--seq-len", str(10**20))
    assert code == 0, err


def test_divergence_is_one_line_and_saves_nothing(capsys, tmp_path, corpus):
    m = tmp_path / "m.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # an overflow warning would fail here
        code, _, err = _run(capsys, "train", corpus, *SMALL, "--steps", "20", "--out", m,
                            "--lr", "1e308", "--clip", "0")
    assert code == 1 and err.count("\n") == 1, err
    assert "training diverged" in err and not m.exists()


def test_corpus_from_a_closed_stdin(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)   # as Python sets it when fd 0 is closed
    code, _, err = _run(capsys, "train", "-", "--out", tmp_path / "m.npz")
    assert code == 2 and "standard input: it is closed" in err, err

def _limited_run(argv, stdin, cwd):
    """python -m fastrnn in a child with 1 GiB of address space: a read without
    end fails there with a MemoryError instead of exhausting the machine."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
    pythonpath = [SRC] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    return subprocess.run([sys.executable, "-m", "fastrnn", *argv], stdin=stdin, env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_corpus_that_is_a_device_is_refused(tmp_path):
    # /dev/zero never ends: it was read until the process ran out of memory
    with open("/dev/zero", "rb") as zero:   # read-only
        by_path = _limited_run(["train", "/dev/zero", "--no-progress"], None, tmp_path)
        by_stdin = _limited_run(["train", "-", "--no-progress"], zero, tmp_path)
    for r, match in [(by_path, "cannot read corpus '/dev/zero': it is a character device"),
                     (by_stdin, "cannot read corpus '-': standard input is a character device")]:
        assert r.returncode == 2, r.stderr[-2000:]
        assert r.stderr.startswith("fastrnn: error: ") and r.stderr.count("\n") == 1, r.stderr
        assert match in r.stderr, r.stderr
    assert not (tmp_path / "model.npz").exists()


def test_corpus_too_big_for_memory_is_a_one_line_error(tmp_path):
    # a regular file is read whole: one bigger than the memory the process
    # may use (here a sparse 1.5 GiB file against 1 GiB of address space)
    # was a MemoryError traceback with exit status 1
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(3 * 2**29)   # sparse: no disk space used
    r = _limited_run(["train", str(big), "--no-progress"], None, tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.startswith("fastrnn: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "does not fit in memory" in r.stderr and "big.txt" in r.stderr, r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_corpus_typed_at_a_terminal_ends_at_one_ctrl_d(tmp_path):
    # a terminal's Ctrl-D ends one read: reading on in chunks waited for a
    # second one
    import pty
    master, slave = pty.openpty()
    pythonpath = [SRC] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastrnn", "train", "-", *SMALL, "--steps", "2",
         "--sample-every", "0", "--no-progress", "--out", str(tmp_path / "m.npz")],
        stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    os.close(slave)
    try:
        os.write(master, TEXT.encode()[:2000].replace(b"\n", b" ") + b"\n")
        time.sleep(0.5)
        os.write(master, b"\x04")   # one Ctrl-D at the start of a line
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("still reading the terminal after one Ctrl-D")
    finally:
        os.close(master)
    assert proc.returncode == 0, err
    assert (tmp_path / "m.npz").exists()


def _fifo_writer(path, data, endless):
    """A thread writing `data` into the FIFO `path` (again and again if
    `endless`) until the reader closes it; gives up after 60 s without one."""
    def run():
        deadline = time.monotonic() + 60
        while True:
            try:   # non-blocking: fails until a reader opens the FIFO
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
        os.set_blocking(fd, True)
        try:
            os.write(fd, data)
            while endless:
                os.write(fd, data)
        except BrokenPipeError:   # the reader stopped reading
            pass
        finally:
            os.close(fd)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_corpus_from_a_fifo_is_read_up_to_a_limit(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_STREAM_LIMIT", 4 * len(TEXT))
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    # a FIFO that ends (as from `<(zcat corpus.gz)`) is a corpus like a file
    writer = _fifo_writer(fifo, TEXT.encode(), endless=False)
    code, out, err = _run(capsys, "train", fifo, *SMALL, "--steps", "2", "--sample-every", "0",
                          "--out", tmp_path / "m.npz")
    writer.join(60)
    assert code == 0, err
    assert LanguageModel.load(tmp_path / "m.npz").step_ == 2
    # one whose writer never closes it: a one-line error once the limit is passed
    writer = _fifo_writer(fifo, TEXT.encode(), endless=True)
    code, out, err = _run(capsys, "train", fifo, *SMALL, "--steps", "2", "--sample-every", "0",
                          "--out", tmp_path / "m2.npz")
    writer.join(60)
    assert code == 2 and err.count("\n") == 1, err
    assert re.search(r"cannot read corpus '.*corpus\.fifo': it is not a regular file and did "
                     rf"not end within {4 * len(TEXT)} bytes", err), err
    assert not writer.is_alive() and not (tmp_path / "m2.npz").exists()


def test_corpus_from_stdin_is_read_up_to_a_limit(capsys, tmp_path, monkeypatch):
    data = TEXT.encode()
    for limit, expected in [(len(data), 0), (len(data) - 1, 2)]:
        monkeypatch.setattr(cli, "_STREAM_LIMIT", limit)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        code, out, err = _run(capsys, "train", "-", *SMALL, "--steps", "2",
                              "--sample-every", "0", "--out", tmp_path / "m.npz")
        assert code == expected, err
    assert f"corpus '-': it is not a regular file and did not end within {len(data) - 1} " \
        "bytes" in err
    # a pipe whose writer never closes it
    monkeypatch.setattr(cli, "_STREAM_LIMIT", 3 * len(data))
    r, w = os.pipe()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(r, "rb")))

    def write():
        try:
            while True:
                os.write(w, data)
        except BrokenPipeError:
            pass
        finally:
            os.close(w)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    code, out, err = _run(capsys, "train", "-", *SMALL, "--steps", "2", "--sample-every", "0",
                          "--out", tmp_path / "m2.npz")
    sys.stdin.close()   # the writer sees a broken pipe
    writer.join(60)
    assert code == 2 and err.count("\n") == 1, err
    assert f"did not end within {3 * len(data)} bytes" in err, err
    assert not writer.is_alive()


def test_word_level(capsys, tmp_path, corpus):
    out = tmp_path / "w.npz"
    code, stdout, err = _run(capsys, "train", corpus, "--level", "word", "--hidden", "8",
                             "--seq-len", "8", "--batch-size", "2", "--steps", "5",
                             "--no-progress", "--out", out, "--sample-length", "7")
    assert code == 0, err
    assert "word tokens" in stdout
    code, s, _ = _run(capsys, "sample", out, "--length", "5", "--prime", "it was", "--seed", "1")
    assert code == 0 and s.startswith("it was ") and len(s.split()) == 7


def test_default_corpus_and_progress_bar(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "train", "--hidden", "8", "--seq-len", "8",
                          "--batch-size", "2", "--steps", "3", "--sample-length", "10")
    assert code == 0, err
    assert "built-in corpus" in out and "model saved to model.npz" in out
    assert (tmp_path / "model.npz").exists()
    if importlib.util.find_spec("tqdm"):
        assert "3/3" in err  # the progress bar, on stderr


def test_plot(capsys, tmp_path, corpus):
    pytest.importorskip("matplotlib")
    png = tmp_path / "loss.png"
    code, out, err = _train(capsys, corpus, tmp_path / "m.npz", "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(capsys, tmp_path, corpus, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    code, _, err = _train(capsys, corpus, tmp_path / "m.npz", "--plot", tmp_path / "l.png")
    assert code == 2
    assert err == ("fastrnn: error: --plot needs matplotlib, which is not installed; "
                   'install it with: pip install "fastrnn[plot]"\n')
    assert not (tmp_path / "m.npz").exists()  # checked before training


def test_bench(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_torch_runner", lambda *a: None)  # as without PyTorch
    code, out, err = _run(capsys, "bench", "--repeats", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split() == ["size", "V", "H", "B", "T", "fastrnn", "reference", "speed-up"]
    assert lines[2].split()[:5] == ["course", "27", "50", "1", "25"]
    assert lines[3].split()[:5] == ["small", "65", "128", "32", "64"]
    assert "PyTorch is not installed" in lines[4]


def test_bench_pytorch_column():
    pytest.importorskip("torch")
    import fastrnn
    p = fastrnn.init_params(27, 50, seed=0)
    X = np.random.default_rng(0).integers(0, 27, size=(1, 25))
    run = cli._torch_runner(p, X, X, np.float32)
    run()


def _bad_files(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café crème\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text(" \n\n\t\n")
    (tmp_path / "tiny.txt").write_text("ab")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    (tmp_path / "text.npz").write_text("not a model")
    np.savez(tmp_path / "foreign.npz", W=np.zeros(3))
    (tmp_path / "dir").mkdir()


@pytest.mark.parametrize("argv,match", [
    (["train", "{d}/missing.txt"], "cannot read corpus .*missing.txt.*no such file"),
    (["train", "{d}/dir"], "is a directory"),
    (["train", "{d}/latin1.txt"], "not UTF-8 text \\(byte 0xe9 at offset 3\\)"),
    (["train", "{d}/empty.txt"], "empty"),
    (["train", "{d}/blank.txt"], "empty"),
    (["train", "{d}/tiny.txt", "--val-fraction", "0"], "too short"),
    (["train", "{corpus}", "--resume", "{d}/corrupt.npz"], "corrupt.npz.*not a valid"),
    (["train", "{corpus}", "--resume", "{d}/missing.npz"], "missing.npz.*no such file"),
    (["train", "{corpus}", "--out", "{d}/nodir/m.npz"], "does not exist"),
    (["train", "{corpus}", "--hidden", "0"], "argument --hidden: must be a positive integer"),
    (["train", "{corpus}", "--hidden", "many"], "argument --hidden: expected a positive"),
    (["train", "{corpus}", "--lr", "-1"], "argument --lr: must be a positive number"),
    (["train", "{corpus}", "--lr", "nan"], "argument --lr: must be a finite number"),
    (["train", "{corpus}", "--val-fraction", "1.5"], "argument --val-fraction: must be in"),
    (["train", "{corpus}", "--steps", "0"], "argument --steps"),
    (["train", "{corpus}", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice"),
    (["train", "{corpus}", "--clip", "-2"], "argument --clip: must be >= 0"),
    (["train", "{corpus}", "--bogus"], "unrecognized arguments: --bogus"),
    (["sample", "{d}/missing.npz"], "cannot read model .*missing.npz.*no such file"),
    (["sample", "{d}/corrupt.npz"], "corrupt.npz.*corrupt or truncated"),
    (["sample", "{d}/text.npz"], "text.npz.*not an .npz archive"),
    (["sample", "{d}/foreign.npz"], "foreign.npz.*not a fastrnn checkpoint"),
    (["sample", "{d}/dir"], "is a directory"),
    (["sample", "{model}", "--temperature", "0"], "argument --temperature: must be a positive number"),
    (["sample", "{model}", "--top-k", "0"], "argument --top-k"),
    (["sample", "{model}", "--top-k", "999"], "at most the vocabulary size"),
    (["sample", "{model}", "--stop", "XYZ"], "'XYZ' is not a token"),
    (["sample", "{model}", "--length", "-5"], "argument --length"),
    (["sample"], "required: MODEL.npz"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_errors_are_one_line_exit_2(capsys, tmp_path, corpus, argv, match):
    _bad_files(tmp_path)
    model = tmp_path / "model.npz"
    if "{model}" in " ".join(argv):
        assert _train(capsys, corpus, model)[0] == 0
    argv = [a.format(d=tmp_path, corpus=corpus, model=model) for a in argv]
    code, out, err = _run(capsys, *argv, *(["--no-progress"] if argv[0] == "train" else []))
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("fastrnn: error: "), err
    assert re.search(match, err), err


def test_help_and_version(capsys):
    assert _run(capsys, "--help")[0] == 0
    code, out, _ = _run(capsys, "train", "--help")
    assert code == 0 and "--seq-len" in out and "--resume" in out
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and out.startswith("fastrnn ")
    code, _, err = _run(capsys)
    assert code == 2 and "choose a command" in err


def test_python_dash_m(tmp_path):
    pythonpath = [SRC] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    r = subprocess.run([sys.executable, "-m", "fastrnn", "--help"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: fastrnn")
    r = subprocess.run([sys.executable, "-m", "fastrnn", "sample", "nope.npz"], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_ctrl_c_saves_and_exits_130(capsys, tmp_path, corpus, monkeypatch):
    real_fit = LanguageModel.fit

    def fit_then_interrupt(self, *args, **kwargs):
        real_fit(self, *args, **{**kwargs, "steps": 3})
        raise KeyboardInterrupt  # as fit raises it after a whole step
    monkeypatch.setattr(LanguageModel, "fit", fit_then_interrupt)
    out = tmp_path / "m.npz"
    code, stdout, err = _train(capsys, corpus, out)
    assert code == 130
    assert "interrupted at step 3" in err and "Traceback" not in err
    assert f"model saved to {out}" in stdout
    assert LanguageModel.load(out).step_ == 3
