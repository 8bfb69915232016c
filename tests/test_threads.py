"""The thread-safety claims of the docstrings' Notes, checked.

Each test runs the same work serially and then from several threads started
together (a barrier), and requires bit-identical results.  The kernel-level
checks (forward, loss_and_grads and sample on private inputs) are in
test_kernels.py and test_sample.py.
"""
import os
import threading

import numpy as np
import pytest

import fastrnn
from fastrnn import optim
from fastrnn.checkpoint import load_checkpoint, save_checkpoint
from fastrnn.classifier import SequenceClassifier
from fastrnn.data import TBPTTBatches
from fastrnn.models import LanguageModel
from fastrnn.vocab import Vocabulary

N_THREADS = 4
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. " * 8


def in_threads(jobs):
    """Run each job in its own thread, all released at once; their results in order."""
    results = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def run(i):
        try:
            barrier.wait()
            results[i] = jobs[i]()
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def fit_lm(seed):
    lm = LanguageModel(Vocabulary.from_text(TEXT), 24, seed=seed,
                       init_state="learned" if seed % 2 else "zeros")
    lm.fit(TEXT, steps=12, seq_len=16, batch_size=4, optimizer="adam" if seed % 2 else "sgd",
           lr=0.01)
    return {k: v.copy() for k, v in lm.params.items()}, lm.a0.copy(), lm.sample(40, seed=seed)


def test_own_language_models_fitted_in_threads_match_serial():
    jobs = [lambda s=s: fit_lm(s) for s in range(N_THREADS)]
    serial = [job() for job in jobs]
    assert_same(in_threads(jobs), serial)


def test_one_language_model_read_from_threads_matches_serial():
    lm = LanguageModel(Vocabulary.from_text(TEXT), 24, seed=0)
    lm.fit(TEXT, steps=10, seq_len=16, batch_size=4, lr=0.01)
    before = {k: v.copy() for k, v in lm.params.items()}
    jobs = [lambda s=s: (lm.sample(60, prime="the ", seed=s, top_k=5), lm.loss(TEXT[s:]),
                         lm.perplexity(TEXT, batch_size=s + 1)) for s in range(N_THREADS)]
    serial = [job() for job in jobs]
    for _ in range(3):
        assert_same(in_threads(jobs), serial)
    assert_same({k: v.copy() for k, v in lm.params.items()}, before)


def classifier_data(seed):
    rng = np.random.default_rng(seed)
    X = [rng.integers(0, 4, size=n) for n in rng.integers(2, 12, size=120)]
    y = np.array([int(s[0]) for s in X])
    return X, y


def test_own_classifiers_fitted_in_threads_match_serial():
    def job(seed):
        X, y = classifier_data(seed)
        clf = SequenceClassifier(hidden_size=16, epochs=3, batch_size=8, seed=seed,
                                 init_state=("zeros", "random", "learned")[seed % 3]).fit(X, y)
        return dict(clf.params_), clf.a0_, clf.loss_curve_, clf.predict_proba(X)

    jobs = [lambda s=s: job(s) for s in range(N_THREADS)]
    serial = [j() for j in jobs]
    assert_same(in_threads(jobs), serial)


def test_one_fitted_classifier_predicts_from_threads():
    X, y = classifier_data(0)
    clf = SequenceClassifier(hidden_size=16, epochs=2, seed=0).fit(X, y)
    jobs = [lambda s=s: (clf.predict_proba(X[s:]), clf.predict(X[:-s - 1]), clf.score(X, y))
            for s in range(N_THREADS)]
    serial = [j() for j in jobs]
    assert_same(in_threads(jobs), serial)


def test_one_vocabulary_and_batches_shared_by_threads():
    vocab = Vocabulary.from_text(TEXT, level="word")
    chars = Vocabulary.from_text(TEXT)
    batches = TBPTTBatches(chars.encode(TEXT), 4, 16)
    jobs = [lambda s=s: (vocab.encode(TEXT[s:]), vocab.decode(vocab.encode(TEXT)[s:]),
                         chars.one_hot(chars.encode(TEXT[:50])), chars.encode(TEXT * 2),
                         [tuple(w) for w in batches], chars.token_to_id("q"))
            for s in range(N_THREADS)]
    serial = [j() for j in jobs]
    assert_same(in_threads(jobs), serial)


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_own_optimizers_in_threads_match_serial(name):
    def job(seed):
        rng = np.random.default_rng(seed)
        params = fastrnn.init_params(30, 40, seed=seed)
        opt = optim.make_optimizer(name, params, lr=0.01)
        for _ in range(20):
            grads = {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}
            optim.clip_by_global_norm(grads, 1.0)
            opt.step(grads)
        return params, opt.state_dict()

    jobs = [lambda s=s: job(s) for s in range(N_THREADS)]
    serial = [j() for j in jobs]
    assert_same(in_threads(jobs), serial)


def test_concurrent_saves_to_one_path_leave_one_complete_checkpoint(tmp_path):
    vocab = Vocabulary.from_text("abcdefgh")
    path = tmp_path / "m.npz"
    params = [fastrnn.init_params(len(vocab), 200, dtype=np.float64, seed=s)
              for s in range(N_THREADS)]

    def job(s):
        for _ in range(3):
            save_checkpoint(path, params[s], vocab, step=s)
        return load_checkpoint(path).step  # the file of some thread, complete

    steps = in_threads([lambda s=s: job(s) for s in range(N_THREADS)])
    assert all(0 <= s < N_THREADS for s in steps)
    ck = load_checkpoint(path)
    assert_same(ck.params, params[ck.step])
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind


def test_every_public_object_documents_its_thread_safety():
    import inspect

    from fastrnn import (checkpoint, classifier, cli, corpus, data, interop, models, plotting,
                         reference)
    from fastrnn import vocab as vocab_module
    from fastrnn import _api, sampling
    modules = [models, classifier, vocab_module, optim, data, checkpoint, interop, reference,
               cli, corpus, plotting, _api, sampling]
    missing = []
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants
            if "Thread safety:" not in (obj.__doc__ or ""):
                missing.append(f"{module.__name__}.{name}")
    if "Thread safety:" not in (fastrnn.FastRNNIndexError.__doc__ or ""):
        missing.append("fastrnn.FastRNNIndexError")
    assert not missing, missing
