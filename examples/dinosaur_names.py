"""Dinosaurus Island: a character-level model of dinosaur names, as in the course.

Sequence Models, week 1, "Character level language model - Dinosaurus
Island", with fastrnn doing the forward and backward passes:

* vocabulary: "\\n" (id 0, the end of a name) and "a".."z" (ids 1..26), as
  in the course, plus "<UNK>" (id 27, never seen);
* one name per iteration, names shuffled once with a fixed seed and visited
  in turn; X = ["\\n"] + name (the course's X = [None] + name, a zero input at
  step 0, is written here as a newline input), Y = name + ["\\n"];
* the hidden state carried from name to name (a_last -> a0), n_a = 50;
* plain SGD, learning rate 0.01, on the summed cross-entropy, gradients
  clipped to [-5, 5] element by element (fastrnn.optim.clip_by_value);
* every 2000 iterations the smoothed loss (loss = 0.999 loss + 0.001 current,
  starting from -log(1/V) * 7) and 7 sampled names (each generated from
  a<0> = 0, primed with "\\n", until the next "\\n", by fastrnn.sample).

    PYTHONPATH=src python examples/dinosaur_names.py ../shared/data/dinos.txt
    PYTHONPATH=src python examples/dinosaur_names.py dinos.txt --iterations 4001
"""
import argparse
import string
import sys
import time
from pathlib import Path

import numpy as np

import fastrnn
from fastrnn.optim import SGD, clip_by_value

NEWLINE = "\n"


def initialize_parameters(n_a, n_x, n_y, seed=1):
    """The course's initialisation: small normal weights, zero biases."""
    rng = np.random.default_rng(seed)
    return {"Wax": np.asfortranarray(rng.standard_normal((n_a, n_x)) * 0.01),
            "Waa": rng.standard_normal((n_a, n_a)) * 0.01,
            "ba": np.zeros(n_a),
            "Wya": rng.standard_normal((n_y, n_a)) * 0.01,
            "by": np.zeros(n_y)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dinos", type=Path, help="text file with one dinosaur name per line")
    ap.add_argument("--iterations", type=int, default=35000,
                    help="names trained on, one SGD step each (default 35000)")
    ap.add_argument("--n-a", type=int, default=50, help="hidden size (default 50)")
    ap.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    ap.add_argument("--print-every", type=int, default=2000,
                    help="iterations between reports (default 2000)")
    ap.add_argument("--names", type=int, default=7, help="names sampled per report (default 7)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the shuffle (default 0)")
    args = ap.parse_args(argv)
    for flag in ("iterations", "n_a", "print_every"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be >= 1")

    try:
        lines = args.dinos.read_text(encoding="utf-8").lower().splitlines()
    except OSError as exc:
        sys.exit(f"dinosaur_names.py: cannot read {args.dinos}: {exc.strerror}")
    examples = [name.strip() for name in lines if name.strip()]
    if not examples:
        sys.exit(f"dinosaur_names.py: {args.dinos} has no names")

    vocab = fastrnn.Vocabulary([NEWLINE, *string.ascii_lowercase, "<UNK>"], level="char")
    V = len(vocab)
    nl = vocab.token_to_id(NEWLINE)
    n_unknown = sum(int((vocab.encode(n) == vocab.unk_id).sum()) for n in examples)
    print(f"{len(examples)} names, vocabulary of {V}; characters outside a-z "
          f"(read as <UNK>): {n_unknown}")

    rng = np.random.default_rng(args.seed)
    rng.shuffle(examples)
    # X = ["\n"] + name, Y = name + ["\n"]: (1, T) id arrays, made once
    data = []
    for name in examples:
        ids = vocab.encode(name)
        data.append((np.concatenate(([nl], ids))[None], np.concatenate((ids, [nl]))[None]))

    params = initialize_parameters(args.n_a, V, V)
    optimizer = SGD(params, lr=args.lr)
    loss = -np.log(1.0 / V) * args.names          # the course's get_initial_loss
    a_prev = np.zeros((1, args.n_a))
    t0 = time.perf_counter()
    for j in range(args.iterations):
        X, Y = data[j % len(data)]
        curr_loss, grads, a_prev = fastrnn.loss_and_grads(params, X, Y, a0=a_prev)
        del grads["a0"]                                 # a<0> is carried, not learned
        clip_by_value(grads, 5.0)
        optimizer.step(grads)
        loss = 0.999 * loss + 0.001 * curr_loss        # the course's smooth
        if j % args.print_every == 0 or j == args.iterations - 1:
            print(f"\nIteration: {j}, Loss: {loss:.6f}\n")
            for seed in range(args.names):
                ids = fastrnn.sample(params, 50, prime=[nl], stop_id=nl, seed=seed)
                name = vocab.decode(ids).rstrip(NEWLINE)
                print(name[:1].upper() + name[1:])
    elapsed = time.perf_counter() - t0
    print(f"\n{args.iterations} iterations in {elapsed:.1f} s "
          f"({1e6 * elapsed / args.iterations:.0f} µs per name)")


if __name__ == "__main__":
    main()
