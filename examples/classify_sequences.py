"""Many-to-one classification: an Elman RNN that has to remember.

fastrnn.SequenceClassifier reads a whole sequence of token ids and classifies
it from the last state only, ŷ = softmax(Wya a<T_x> + by) (T_y = 1).  Two
synthetic tasks where the label is decided far from the end, so the state
must carry it:

* ``first`` (default): sequences of 10..25 random tokens from an alphabet of
  10; the label is the first token, one of 2 markers (0 or 1), which also
  occur as distractors later on.  Chance is 50%.  The gradient has to travel
  back 10 to 25 steps: a plain RNN learns this, but sits at chance for a few
  epochs first (and fails on much longer sequences: the course's vanishing
  gradients).
* ``parity``: bit strings of length 2..10; the label is the parity of the
  number of ones.  Every token matters, none can be forgotten.  Chance is
  50%.  Training sits at chance for tens of epochs before accuracy jumps to
  100%; some seeds need more epochs than the default.

Prints the training loss and held-out accuracy as training goes, then the
final held-out accuracy next to chance (the most common held-out label).

    PYTHONPATH=src python examples/classify_sequences.py
    PYTHONPATH=src python examples/classify_sequences.py --task parity

On a machine whose cores are busy with other work, OPENBLAS_NUM_THREADS=1
can make training many times faster (BLAS threads wait for each other).
"""
import argparse
import time

import numpy as np

from fastrnn import SequenceClassifier

TASKS = ("first", "parity")


def make_first_token(n, rng, alphabet=10, markers=2, min_len=10, max_len=25):
    """Label = the first token (a marker); later tokens are noise over the whole alphabet."""
    X, y = [], []
    for length in rng.integers(min_len, max_len + 1, size=n):
        seq = rng.integers(0, alphabet, size=length)
        seq[0] = rng.integers(0, markers)
        X.append(seq)
        y.append(int(seq[0]))
    return X, np.array(y)


def make_parity(n, rng, min_len=2, max_len=10):
    """Label = "odd" or "even" number of ones in a random bit string."""
    X, y = [], []
    for length in rng.integers(min_len, max_len + 1, size=n):
        bits = rng.integers(0, 2, size=length)
        X.append(bits)
        y.append("odd" if bits.sum() % 2 else "even")
    return X, np.array(y)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=TASKS, default="first", help="default: first")
    ap.add_argument("--train", type=int, default=4000, help="training sequences (default 4000)")
    ap.add_argument("--test", type=int, default=1000, help="held-out sequences (default 1000)")
    ap.add_argument("--hidden", type=int, default=None,
                    help="hidden size (default 32)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="passes over the training set (default 30 for first, 60 for parity)")
    ap.add_argument("--batch-size", type=int, default=32, help="default 32")
    ap.add_argument("--lr", type=float, default=None,
                    help="Adam learning rate (default 3e-3)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the data and the model")
    args = ap.parse_args(argv)
    defaults = {"first": {"hidden": 32, "epochs": 30, "lr": 3e-3},
                "parity": {"hidden": 32, "epochs": 60, "lr": 3e-3}}[args.task]
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    for flag in ("train", "test", "hidden", "epochs", "batch_size"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be >= 1")

    rng = np.random.default_rng(args.seed)
    make = make_first_token if args.task == "first" else make_parity
    X_train, y_train = make(args.train, rng)
    X_test, y_test = make(args.test, rng)
    lengths = [len(s) for s in X_train]
    print(f"task {args.task!r}: {args.train} training and {args.test} held-out sequences "
          f"of {min(lengths)}..{max(lengths)} tokens, labels {sorted(set(y_train.tolist()))}")

    clf = SequenceClassifier(hidden_size=args.hidden, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr, optimizer="adam",
                             clip=5.0, seed=args.seed)
    classes = np.unique(np.concatenate([y_train, y_test]))
    t0 = time.perf_counter()
    # what clf.fit(X_train, y_train) does, one epoch at a time to report progress
    for epoch in range(1, args.epochs + 1):
        clf.partial_fit(X_train, y_train, classes=classes if epoch == 1 else None)
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  training loss {clf.loss_curve_[-1]:.4f}  "
                  f"held-out accuracy {clf.score(X_test, y_test):.3f}", flush=True)
    elapsed = time.perf_counter() - t0

    _, counts = np.unique(y_test, return_counts=True)
    chance = counts.max() / counts.sum()
    accuracy = clf.score(X_test, y_test)
    print(f"\n{clf!r} trained in {elapsed:.1f} s")
    print(f"held-out accuracy {accuracy:.3f} (chance {chance:.3f}); "
          f"training accuracy {clf.score(X_train, y_train):.3f}")
    for seq, label in zip(X_test[:3], y_test[:3]):
        shown = " ".join(map(str, seq[:12])) + (" ..." if len(seq) > 12 else "")
        print(f"  [{shown}] -> predicted {clf.predict([seq])[0]}, true {label}")


if __name__ == "__main__":
    main()
