"""A character-level language model of a text file (e.g. tiny Shakespeare).

Trains fastrnn.LanguageModel (an Elman RNN, truncated backpropagation through
time over parallel streams, Adam) on the first 90% of the file, reports the
held-out perplexity on the last 10% during and after training (a uniform
guess over V characters has perplexity V), and prints samples at a few
temperatures.

    PYTHONPATH=src python examples/shakespeare.py ../shared/data/tinyshakespeare.txt
    PYTHONPATH=src python examples/shakespeare.py input.txt --steps 50 --hidden 32

On a machine whose cores are busy with other work, OPENBLAS_NUM_THREADS=1
can make training many times faster (BLAS threads wait for each other).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import fastrnn
from fastrnn import LanguageModel


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("text_file", type=Path, help="UTF-8 text to model")
    ap.add_argument("--steps", type=int, default=3000,
                    help="optimizer steps, one window of batch-size x seq-len characters each "
                         "(default 3000)")
    ap.add_argument("--hidden", type=int, default=128, help="hidden size H (default 128)")
    ap.add_argument("--seq-len", type=int, default=64, help="truncation length (default 64)")
    ap.add_argument("--batch-size", type=int, default=32,
                    help="parallel streams per step (default 32)")
    ap.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    ap.add_argument("--eval-every", type=int, default=500,
                    help="steps between held-out evaluations (default 500)")
    ap.add_argument("--held-out", type=float, default=0.1,
                    help="fraction of the file held out, taken from its end (default 0.1)")
    ap.add_argument("--sample-length", type=int, default=300,
                    help="characters per sample (default 300)")
    ap.add_argument("--prime", default="ROMEO:\n", help="text the samples continue")
    ap.add_argument("--seed", type=int, default=0, help="seeds initialisation and sampling")
    args = ap.parse_args(argv)
    for flag in ("steps", "hidden", "seq_len", "batch_size", "eval_every", "sample_length"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be >= 1")
    if not 0 < args.held_out < 1:
        ap.error("--held-out must be in (0, 1)")

    try:
        text = args.text_file.read_text(encoding="utf-8")
    except OSError as exc:
        sys.exit(f"shakespeare.py: cannot read {args.text_file}: {exc.strerror}")
    cut = int(len(text) * (1 - args.held_out))
    train, held_out = text[:cut], text[cut:]
    if len(train) < 2 or len(held_out) < 2:
        sys.exit(f"shakespeare.py: {args.text_file} is too short ({len(text)} characters)")

    # the vocabulary comes from the training part: unseen characters are <UNK>
    vocab = fastrnn.Vocabulary.from_text(train, level="char")
    model = LanguageModel(vocab, hidden_size=args.hidden, seed=args.seed)
    V = len(vocab)
    print(f"{args.text_file.name}: {len(train):,} training and {len(held_out):,} held-out "
          f"characters, vocabulary of {V}; {model!r}")
    print(f"held-out perplexity before training: {model.perplexity(held_out):.2f} "
          f"(uniform: {V})")

    def report(info):
        print(f"step {info['step']:5d}  train loss {info['train_loss']:.3f}  "
              f"held-out perplexity {np.exp(info['val_loss']):6.2f}  "
              f"{info['tokens_per_sec']:9,.0f} chars/s  {info['elapsed']:5.1f} s", flush=True)

    t0 = time.perf_counter()
    model.fit(train, steps=args.steps, seq_len=args.seq_len, batch_size=args.batch_size,
              optimizer="adam", lr=args.lr, clip=5.0, val_data=held_out,
              eval_every=args.eval_every, callback=report)
    elapsed = time.perf_counter() - t0
    print(f"\ntrained {args.steps} steps in {elapsed:.1f} s; "
          f"held-out perplexity {model.perplexity(held_out):.2f}, "
          f"training perplexity {model.perplexity(train[:len(held_out)]):.2f} "
          "(on as many characters)")
    for temperature in (0.5, 0.8, 1.0):
        text_out = model.sample(args.sample_length, prime=args.prime,
                                temperature=temperature, seed=args.seed)
        print(f"\n--- sample, temperature {temperature} ---\n{args.prime}{text_out}")


if __name__ == "__main__":
    main()
