"""The pretraining collator with the tokenizer called on every batch against `CaptionTokens`, side by side.

    make demo   # leaves the demo's corpus and tokenizer under results/
    .venv/bin/python bench/caption_tokens.py [--data .] [--epochs 12] [--rounds 3]

Both sides run `PretrainCollator` (clean, tokenise, mask) over the demo corpus in epochs of 32 images x 10
captions, as pretraining does; one calls the tokenizer on each batch (ccrk before CaptionTokens), the other
reads each caption's ids from memory after its first epoch. The two take each batch in turn (which goes
first alternates); wall time and CPU time of this process per batch. CPU time counts the tokenizer's Rust threads,
and also torch's second OpenMP thread, which spins for a while after each parallel op (as it does between the
ops of a training step): wall time is what a step waits for. The two outputs of every batch are compared, value
for value, and the run stops at the first difference.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ccrk.data.masking import MaskingConfig  # noqa: E402
from ccrk.data.pretrain_dataset import PretrainCollator, read_corpus  # noqa: E402
from ccrk.tokenizer import load_tokenizer  # noqa: E402

LANGUAGES = ["zh", "en", "de", "fr", "ja", "cs", "id", "es", "ru", "tr"]  # config/config.yaml's pretraining


def tokenizer_call(tok, max_tokens):
    """What the collator did before CaptionTokens: the tokenizer on every batch."""
    return lambda texts: tok(
        texts, padding="longest", truncation=True, max_length=max_tokens, return_tensors="pt"
    )


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)


def one_round(tok, captions, epochs: int) -> tuple[dict, dict, int]:
    """Wall and CPU seconds of both collators over the same batches, taken in turn batch by batch."""
    sides = {"call": PretrainCollator(tok, 48, 40, MaskingConfig(), seed=0)}
    sides["call"].tokens = tokenizer_call(tok, 48)
    sides["cached"] = PretrainCollator(tok, 48, 40, MaskingConfig(), seed=0)
    wall, cpu, n = dict.fromkeys(sides, 0.0), dict.fromkeys(sides, 0.0), 0
    for epoch in range(epochs):
        order = torch.randperm(len(captions), generator=torch.Generator().manual_seed(epoch)).tolist()
        for start in range(0, len(order) - 31, 32):
            batch = [(torch.zeros(1), captions[i]) for i in order[start : start + 32]]
            out = []
            for name in ("call", "cached") if n % 2 else ("cached", "call"):  # alternate which goes first
                t, c = time.perf_counter(), time.process_time()
                out.append(sides[name](batch))
                wall[name] += time.perf_counter() - t
                cpu[name] += time.process_time() - c
            if not same(*out):
                sys.exit(f"epoch {epoch + 1}, batch at {start}: the two collators differ")
            n += 1
    return wall, cpu, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", default=".", help="a folder where `make demo` ran (results/corpus, results/tokenizer)"
    )
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    data = Path(args.data)
    tok = load_tokenizer(str(data / "results" / "tokenizer"))
    items = read_corpus(sorted(str(p) for p in (data / "results" / "corpus").glob("part-*.jsonl")), LANGUAGES)
    captions = [it.captions for it in items]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    )
    print(
        f"{len(captions)} images x {len(LANGUAGES)} captions, {args.epochs} epochs of {len(captions) // 32} batches"
    )
    per_batch = {"wall": {"call": [], "cached": []}, "cpu": {"call": [], "cached": []}}
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        wall, cpu, n = one_round(tok, captions, args.epochs)
        for kind, seconds in (("wall", wall), ("cpu", cpu)):
            for side in seconds:
                per_batch[kind][side].append(seconds[side] / n * 1e3)
        print(
            f"round {r + 1} (load {load:.2f}), ms per batch, wall / CPU: tokenizer call "
            f"{per_batch['wall']['call'][-1]:.2f} / {per_batch['cpu']['call'][-1]:.2f}, CaptionTokens "
            f"{per_batch['wall']['cached'][-1]:.2f} / {per_batch['cpu']['cached'][-1]:.2f}; all {n} batches equal"
        )
    for kind, ms in per_batch.items():
        call, cached = min(ms["call"]), min(ms["cached"])
        print(
            f"best of {args.rounds}, {kind}: {call:.2f} against {cached:.2f} ms per batch: {call / cached:.2f}x"
        )


if __name__ == "__main__":
    main()
