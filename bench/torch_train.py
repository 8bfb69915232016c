"""The ``fastrnn train`` model written in PyTorch: the peer of the end-to-end benchmark.

    PYTHONPATH=src python bench/torch_train.py CORPUS [--steps 300] [--threads 1] [--json]

Trains, on the CPU, exactly the model and the schedule of ``fastrnn train
CORPUS`` (character level, H=256, B=32, T=64, Adam lr 2e-3, clipping of the
global gradient norm at 5, float32):

* the data are fastrnn's: the vocabulary is ``fastrnn.Vocabulary.from_text(text,
  level="char")``, the held-out tail comes from ``fastrnn.data.split_ids`` and
  the training windows from ``fastrnn.data.TBPTTBatches``, so both libraries
  see the same windows in the same order;
* the model is the same function, ``a<t> = tanh(Waa a<t-1> + Wax[:, x<t>] + ba)``,
  ``logits<t> = Wya a<t> + by``: ``nn.Embedding(V, H)`` holds ``Wax`` (its rows
  are the columns of ``Wax``) and feeds ``nn.RNN(H, H)`` whose ``weight_ih`` is
  frozen to the identity and ``bias_hh`` frozen to zero (``bias_ih`` is
  ``ba``), then ``nn.Linear(H, V)``; by default it starts from fastrnn's
  initial parameters for ``--seed`` (``--init torch`` uses PyTorch's own
  initialisation of the same shapes instead);
* the step is fastrnn's: mean cross-entropy over the window's tokens, hidden
  state carried from window to window with ``.detach()`` (reset to zeros at
  the start of each pass), ``clip_grad_norm_(5)``, ``torch.optim.Adam(lr)``;
* the evaluation is ``LanguageModel.loss``'s: the held-out ids cut into the
  same streams and windows, the state carried across the whole text, the
  mean negative log-likelihood in nats per character.  At the end the
  trained weights are also copied into a ``fastrnn.LanguageModel`` and scored
  by ``LanguageModel.loss`` itself, as a check (``final_val_loss_fastrnn_eval``).

The evaluations (every ``--eval-every`` steps, as the CLI's ``--eval-every``,
and after the last step) are timed apart: ``tokens_per_sec``, ``wall_s`` and
``cpu_s`` cover the training steps only; ``total_wall_s`` / ``total_cpu_s``
include the evaluations.  Needs PyTorch (not a dependency of fastrnn); exits
with status 3 when it is not installed.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

import fastrnn
from fastrnn.data import TBPTTBatches, split_ids
from fastrnn.models import _EVAL_MAX_PROBS, _EVAL_MAX_STREAMS, _EVAL_MIN_STREAM


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", help="UTF-8 text file")
    p.add_argument("--steps", type=int, default=1500, help="optimizer steps (default: 1500)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0, help="global-norm threshold, 0 for none")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads(N) (default: PyTorch's choice)")
    p.add_argument("--eval-every", type=int, default=100,
                   help="evaluate on the held-out text every N steps (default: 100, as the CLI)")
    p.add_argument("--init", choices=("fastrnn", "torch"), default="fastrnn",
                   help="initial parameters: fastrnn's for --seed (default) or PyTorch's")
    p.add_argument("--json", action="store_true",
                   help="print only a one-line JSON summary (with the evaluation history)")
    return p


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8-sig")  # as the CLI reads a corpus


class TorchLM(torch.nn.Module if torch is not None else object):
    """Embedding(V, H) -> RNN(H, H) with identity weight_ih -> Linear(H, V)."""

    def __init__(self, V: int, H: int):
        super().__init__()
        self.V, self.H = V, H
        self.emb = torch.nn.Embedding(V, H)
        self.rnn = torch.nn.RNN(H, H, nonlinearity="tanh", batch_first=True, bias=True)
        self.out = torch.nn.Linear(H, V)
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(torch.eye(H))
            self.rnn.bias_hh_l0.zero_()
        self.rnn.weight_ih_l0.requires_grad_(False)
        self.rnn.bias_hh_l0.requires_grad_(False)

    def load_fastrnn(self, params: dict) -> None:
        with torch.no_grad():
            self.emb.weight.copy_(torch.from_numpy(np.ascontiguousarray(params["Wax"].T)))
            self.rnn.weight_hh_l0.copy_(torch.from_numpy(params["Waa"]))
            self.rnn.bias_ih_l0.copy_(torch.from_numpy(params["ba"]))
            self.out.weight.copy_(torch.from_numpy(params["Wya"]))
            self.out.bias.copy_(torch.from_numpy(params["by"]))

    def to_fastrnn(self, params: dict) -> None:
        """Copy the weights into fastrnn's parameter arrays, in place."""
        params["Wax"][...] = self.emb.weight.detach().numpy().T
        params["Waa"][...] = self.rnn.weight_hh_l0.detach().numpy()
        params["ba"][...] = self.rnn.bias_ih_l0.detach().numpy()
        params["Wya"][...] = self.out.weight.detach().numpy()
        params["by"][...] = self.out.bias.detach().numpy()

    def forward(self, X, h):
        """Logits (B, T, V) and the last state (1, B, H)."""
        seq, h_last = self.rnn(self.emb(X), h)
        return self.out(seq), h_last


def evaluate(model: TorchLM, ids: np.ndarray) -> float:
    """Mean nats per predicted token, as ``fastrnn.LanguageModel.loss(ids)`` computes it."""
    n = ids.size
    B = max(1, min(_EVAL_MAX_STREAMS, (n - 1) // _EVAL_MIN_STREAM))
    window = max(1, min(1024, _EVAL_MAX_PROBS // (B * model.V)))
    batches = TBPTTBatches(ids, B, window)
    total = 0.0
    h = torch.zeros(1, B, model.H)
    with torch.no_grad():
        for X, Y in batches:
            logits, h = model(torch.from_numpy(X), h)
            logp = torch.log_softmax(logits, dim=-1)
            total -= float(logp.gather(2, torch.from_numpy(Y).unsqueeze(2)).double().sum())
    return total / batches.n_tokens


def train(args) -> dict:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text = read_text(args.corpus)
    vocab = fastrnn.Vocabulary.from_text(text, level="char")
    V, H = len(vocab), args.hidden
    ids = vocab.encode(text)
    train_ids, val_ids = split_ids(ids, args.val_fraction)
    val = val_ids if val_ids.size >= 2 else None
    # the CLI's model for this seed: its initial parameters, and the scorer of the check
    lm = fastrnn.LanguageModel(vocab, H, dtype=np.float32, seed=args.seed)
    model = TorchLM(V, H)
    if args.init == "fastrnn":
        model.load_fastrnn(lm.params)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    B, T = args.batch_size, args.seq_len

    history = []
    train_wall = train_cpu = 0.0
    run_loss, run_tokens, tokens = 0.0, 0, 0
    w0, c0 = time.perf_counter(), time.process_time()
    t_w, t_c = w0, c0
    batches = TBPTTBatches(train_ids, B, T)  # timed, as in LanguageModel.fit
    n_windows = len(batches)
    h = None
    for i in range(args.steps):
        w = i % n_windows
        if w == 0:  # start of a pass: back to the initial state
            h = torch.zeros(1, B, H)
        X, Y = batches[w]
        opt.zero_grad(set_to_none=True)
        logits, h_last = model(torch.from_numpy(X), h)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V),
                                                 torch.from_numpy(Y).reshape(-1))
        loss.backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        h = h_last.detach()
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the training loss became {value} at step {i + 1}")
        run_loss += value * X.size
        run_tokens += X.size
        tokens += X.size
        step = i + 1
        if step % args.eval_every == 0 or step == args.steps:
            now_w, now_c = time.perf_counter(), time.process_time()
            train_wall += now_w - t_w
            train_cpu += now_c - t_c
            val_loss = None if val is None else evaluate(model, val)
            history.append({"step": step, "train_loss": run_loss / run_tokens,
                            "val_loss": val_loss, "train_wall_s": train_wall,
                            "train_cpu_s": train_cpu})
            if not args.json:
                vl = "" if val_loss is None else f", held-out loss {val_loss:.4f}"
                print(f"step {step}: train loss {run_loss / run_tokens:.4f}{vl}, "
                      f"{train_wall:.1f} s of training", flush=True)
            run_loss, run_tokens = 0.0, 0
            t_w, t_c = time.perf_counter(), time.process_time()
    total_wall = time.perf_counter() - w0
    total_cpu = time.process_time() - c0

    check = None
    if val is not None:
        model.to_fastrnn(lm.params)
        check = lm.loss(val)
    return {
        "impl": "pytorch", "torch_version": torch.__version__,
        "threads": torch.get_num_threads(), "steps": args.steps, "tokens": tokens,
        "vocab_size": V, "hidden": H, "batch_size": B, "seq_len": T,
        "tokens_per_sec": tokens / train_wall,
        "tokens_per_cpu_sec": tokens / train_cpu,
        "final_val_loss": history[-1]["val_loss"],
        "final_val_loss_fastrnn_eval": check,
        "wall_s": train_wall, "cpu_s": train_cpu,
        "total_wall_s": total_wall, "total_cpu_s": total_cpu,
        "history": history,
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if torch is None:
        print("torch_train.py: PyTorch is not installed; nothing to compare", file=sys.stderr)
        return 3
    res = train(args)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"PyTorch {res['torch_version']}, {res['threads']} thread(s): {res['steps']} steps, "
          f"{res['tokens']:,} tokens in {res['wall_s']:.2f} s wall / {res['cpu_s']:.2f} s CPU "
          "of training (evaluations excluded)")
    print(f"tokens/s: {res['tokens_per_sec']:,.0f} (per CPU second: "
          f"{res['tokens_per_cpu_sec']:,.0f})")
    if res["final_val_loss"] is not None:
        print(f"final held-out loss: {res['final_val_loss']:.4f} nats/char "
              f"(fastrnn's LanguageModel.loss on the same weights: "
              f"{res['final_val_loss_fastrnn_eval']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
