"""Pictures: hidden states over a text (fastrnn.plotting, fastrnn sample --plot-states)."""
import re
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn.cli import main
from fastrnn.models import LanguageModel

TEXT = 'the quick brown fox jumps over the lazy dog. "quoted words" here.\n' * 20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lm():
    return LanguageModel.from_text(TEXT, 24, seed=0).fit(TEXT, steps=30, seq_len=32,
                                                         batch_size=8, lr=0.01)


def assert_nontrivial_png(path, min_bytes=5000):
    """A PNG, a few KB at least, and a picture, not one flat colour."""
    image = pytest.importorskip("matplotlib.image")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    rgb = pixels[..., :3].reshape(-1, 3)
    assert rgb.var(axis=0).sum() > 0.01             # not a single colour
    assert len(np.unique(rgb, axis=0)) > 50          # a heat map has many shades


def test_hidden_states_are_the_forward_states(lm):
    ids = lm.vocab.encode("the lazy dog")
    A = lm.hidden_states(ids)
    _, want = fastrnn.forward(lm.params, ids[None], a0=lm.a0)
    np.testing.assert_array_equal(A, want[0])
    # a prime is read first and not returned
    both = lm.hidden_states("the lazy dog", prime="over ")
    _, full = fastrnn.forward(lm.params, lm.vocab.encode("over the lazy dog")[None], a0=lm.a0)
    np.testing.assert_array_equal(both, full[0, 5:])
    assert A.dtype == lm.dtype and np.abs(A).max() <= 1


@pytest.mark.parametrize("bad,exc,match", [
    ("", ValueError, "no tokens"),
    ([0, 99], IndexError, r"data has token id 99 at \[1\]"),
    (np.zeros(3), TypeError, "data must be integer token ids"),
])
def test_hidden_states_bad_input(lm, bad, exc, match):
    with pytest.raises(exc, match=match):
        lm.hidden_states(bad)
    with pytest.raises(TypeError, match="prime must be a str"):
        lm.hidden_states("the", prime=[1])


def test_plot_states_writes_a_heat_map(lm, tmp_path):
    pytest.importorskip("matplotlib")
    from fastrnn.plotting import plot_states

    sample = TEXT[4:154]
    fig = plot_states(lm, sample, prime="the ", n_units=6, path=tmp_path / "s.png")
    assert_nontrivial_png(tmp_path / "s.png")
    # rows of 64 characters: 3 heat maps, 6 units each, the characters under them
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 3
    assert [t.get_text() for t in axes[0].get_yticklabels()][0].startswith("unit ")
    shown = "".join(t.get_text() for ax in axes for t in ax.get_xticklabels())
    assert shown == sample.replace(" ", "·").replace("\n", "↵")
    # the units drawn: the ones whose activation varies most, the most varied first
    states = lm.hidden_states(sample, prime="the ")
    top = np.argsort(-states.std(axis=0), kind="stable")[:6]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == [f"unit {u}" for u in top]


def test_plot_states_word_level_and_chosen_units(tmp_path):
    pytest.importorskip("matplotlib")
    from fastrnn.plotting import plot_states

    text = "the cat sat on the mat . the dog sat on the log . " * 6
    w = LanguageModel.from_text(text, 12, level="word", seed=0)
    fig = plot_states(w, text, units=[3, 0, 7], path=tmp_path / "w.png", title="words")
    assert_nontrivial_png(tmp_path / "w.png")
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["unit 3", "unit 0", "unit 7"]
    assert [t.get_text() for t in axes[0].get_xticklabels()][:3] == ["the", "cat", "sat"]


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"units": [0, 24]}, IndexError, r"units has unit 24 at \[1\].*\[0, 24\)"),
    ({"units": [-1]}, IndexError, r"units has unit -1 at \[0\]"),
    ({"units": [0.5]}, TypeError, "units must be a non-empty 1-d sequence of integer"),
    ({"units": []}, TypeError, "units must be a non-empty"),
    ({"n_units": 0}, ValueError, "n_units must be >= 1, got 0"),
    ({"n_units": 25}, ValueError, "n_units must be <= 24, got 25"),
    ({"per_row": 0}, ValueError, "per_row must be >= 1, got 0"),
    ({"title": 3}, TypeError, "title must be a str"),
])
def test_plot_states_bad_arguments(lm, tmp_path, kwargs, exc, match):
    pytest.importorskip("matplotlib")
    from fastrnn.plotting import plot_states

    with pytest.raises(exc, match=match):
        plot_states(lm, "the cat", path=tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(TypeError, match="model must be a fastrnn LanguageModel"):
        plot_states(lm.params, "the cat")


def test_plot_states_without_matplotlib(lm, monkeypatch):
    from fastrnn import plotting

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    with pytest.raises(ImportError, match=re.escape('pip install "fastrnn[plot]"')):
        plotting.plot_states(lm, "the cat")


# -- the command ----------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path, lm):
    path = tmp_path / "m.npz"
    lm.save(path)
    return path


def test_cli_sample_plot_states(capsys, tmp_path, saved, lm):
    pytest.importorskip("matplotlib")
    png = tmp_path / "states.png"
    code = main(["sample", str(saved), "--length", "120", "--seed", "2", "--prime", "the ",
                 "--plot-states", str(png), "--plot-units", "5"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "the " + lm.sample(120, prime="the ", seed=2) + "\n"  # the sample as before
    assert f"hidden states drawn to {png}" in err
    assert_nontrivial_png(png)


@pytest.mark.parametrize("argv,match", [
    (["--plot-states", "{d}/nodir/s.png"], r"cannot write plot '.*nodir/s\.png': directory"),
    (["--plot-states", "{d}"], "plot '.*' is a directory"),
    (["--plot-states", "{d}/s.png", "--plot-units", "0"], "argument --plot-units: must be a positive"),
    (["--plot-states", "{d}/s.png", "--plot-units", "25"], "argument --plot-units: must be at most the hidden size 24, got 25"),
    (["--plot-states", "{d}/s.png", "--plot-units", "x"], "argument --plot-units: expected a positive integer"),
])
def test_cli_plot_states_errors(capsys, tmp_path, saved, argv, match):
    pytest.importorskip("matplotlib")
    code = main(["sample", str(saved), "--length", "10", *[a.format(d=tmp_path) for a in argv]])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(match, err), err
    assert out == ""  # checked before sampling
    assert not (tmp_path / "s.png").exists()


def test_cli_plot_states_without_matplotlib(capsys, tmp_path, saved, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["sample", str(saved), "--plot-states", str(tmp_path / "s.png")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == ("fastrnn: error: --plot-states needs matplotlib, which is not installed; "
                   'install it with: pip install "fastrnn[plot]"\n')
