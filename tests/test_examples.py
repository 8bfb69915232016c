"""Smoke tests: every script in examples/ runs, with tiny settings, as a subprocess.

The examples that read a data file get the course's files from the shared
data directory next to the repository when it exists (else those runs are
skipped), and a small generated file in every case.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastrnn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DINOS = DATA / "dinos.txt"
SHAKESPEARE = DATA / "tinyshakespeare.txt"

needs_dinos = pytest.mark.skipif(not DINOS.is_file(), reason=f"{DINOS} not found")
needs_shakespeare = pytest.mark.skipif(not SHAKESPEARE.is_file(),
                                       reason=f"{SHAKESPEARE} not found")


def run(script, *args, check=True, timeout=120):
    """Run examples/<script> with the fastrnn being tested first on PYTHONPATH."""
    env = dict(os.environ)
    here = str(Path(fastrnn.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_every_example_is_smoke_tested():
    tested = {"course_step_by_step.py", "dinosaur_names.py", "shakespeare.py",
              "classify_sequences.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_help(script):
    out = run(script, "--help").stdout
    assert out.startswith("usage:")


# ---------------------------------------------------------------------------
def test_course_step_by_step():
    out = run("course_step_by_step.py").stdout
    assert "all agree to < 1e-10" in out
    for name in ("dWax", "dWaa", "dba", "dWya", "dby", "da0", "loss"):
        assert name in out


@pytest.mark.parametrize("args", [("--text", "ab", "--n-a", "1"), ("--text", "hello world", "--n-a", "8")])
def test_course_step_by_step_other_shapes(args):
    assert "all agree" in run("course_step_by_step.py", *args).stdout


# ---------------------------------------------------------------------------
def check_dinosaur_output(out, names=3):
    assert "Iteration: 0, Loss:" in out
    assert "Iteration: 20, Loss:" in out
    blocks = out.split("Iteration: ")[1:]
    for block in blocks:
        lines = [ln for ln in block.splitlines()[1:] if ln.strip()]
        assert len(lines) >= names
        for name in lines[:names]:
            assert name[:1].isupper()


@needs_dinos
def test_dinosaur_names():
    out = run("dinosaur_names.py", DINOS, "--iterations", 41, "--print-every", 20,
              "--names", 3).stdout
    assert "1536 names, vocabulary of 28" in out
    check_dinosaur_output(out)


def test_dinosaur_names_small_file(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("Aardonyx\nAbelisaurus\n\nBrachiosaurus\nT-rex\n", encoding="utf-8")
    out = run("dinosaur_names.py", f, "--iterations", 41, "--print-every", 20, "--names", 3,
              "--n-a", 8).stdout
    assert "4 names, vocabulary of 28; characters outside a-z (read as <UNK>): 1" in out
    check_dinosaur_output(out)


def test_dinosaur_names_missing_file(tmp_path):
    proc = run("dinosaur_names.py", tmp_path / "none.txt", check=False)
    assert proc.returncode == 1
    assert "cannot read" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------
SHAKESPEARE_TINY = ("--steps", 4, "--hidden", 8, "--seq-len", 8, "--batch-size", 2,
                    "--eval-every", 2, "--sample-length", 20)


def check_shakespeare_output(out):
    assert "held-out perplexity before training" in out
    assert "step     2" in out and "step     4" in out
    assert "trained 4 steps" in out
    assert out.count("--- sample, temperature") == 3


@needs_shakespeare
def test_shakespeare():
    out = run("shakespeare.py", SHAKESPEARE, *SHAKESPEARE_TINY, "--held-out", 0.01).stdout
    check_shakespeare_output(out)


def test_shakespeare_small_file(tmp_path):
    f = tmp_path / "text.txt"
    f.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 20,
                 encoding="utf-8")
    check_shakespeare_output(run("shakespeare.py", f, *SHAKESPEARE_TINY).stdout)


def test_shakespeare_bad_input(tmp_path):
    proc = run("shakespeare.py", tmp_path / "none.txt", check=False)
    assert proc.returncode == 1 and "cannot read" in proc.stderr
    proc = run("shakespeare.py", tmp_path / "none.txt", "--steps", 0, check=False)
    assert proc.returncode == 2 and "--steps must be >= 1" in proc.stderr


# ---------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["first", "parity"])
def test_classify_sequences(task):
    out = run("classify_sequences.py", "--task", task, "--train", 60, "--test", 20,
              "--epochs", 2, "--hidden", 4).stdout
    assert f"task {task!r}" in out
    assert "epoch   2" in out
    assert "held-out accuracy" in out and "(chance" in out
