"""1-to-K contrastive loss against plain ITC, and the vectorised samplers against per-sample loops.

`python bench/one_to_k_loss.py [--threads 1] [--repeats 200]`

Loss (forward + backward, features requiring grad, the similarity matmul included), N images x N*K texts:
  - plain ITC, same texts: one positive per image on the same [N, N*K] similarities (i2t CE towards the
    image's first caption, t2i CE towards its image): any contrastive loss over these texts pays this;
  - ITC over the N*K (image, caption) pairs, CCLM-style: images repeated, [N*K, N*K] similarities.
Samplers (no grad), B local images x B*K texts: `one_to_k_hard_samples` (three multinomial calls over the
batch) against the per-sample loops of CCRK's get_unialign_matching_loss (3B multinomial calls).
Each pair is timed interleaved (A, B, A, B ...) in CPU time of this process (one torch thread by default),
and the medians are compared, so load on a shared host hits both sides alike. Prints ratios; the 1-to-K
target is <= 1.3x plain ITC on the same texts.
"""

import argparse
import platform
import random
import statistics
import time

import torch
import torch.nn.functional as F

from ccrk import losses


def _median_pair(fn_a, fn_b, repeats: int) -> tuple[float, float]:
    for _ in range(3):
        fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, a), (fn_b, b)):
            t0 = (
                time.process_time()
            )  # CPU time of this process: time spent preempted on a busy host is not counted
            fn()
            out.append(time.process_time() - t0)
    return statistics.median(a), statistics.median(b)


def _features(n: int, k: int, d: int = 256):
    g = torch.Generator().manual_seed(0)
    v = F.normalize(torch.randn(n, d, generator=g), dim=-1).requires_grad_()
    t = F.normalize(torch.randn(n * k, d, generator=g), dim=-1).requires_grad_()
    return v, t


def one_to_k_step(v, t, k):
    losses.one_to_k_contrastive_loss(v, t, 0.07, k).backward()


def plain_itc_same_texts_step(v, t, k):
    """One positive per image over the same N x N*K similarities: the floor for a loss over these texts."""
    logits = v @ t.t() / 0.07
    own = torch.arange(v.shape[0]).repeat_interleave(k)
    (
        (F.cross_entropy(logits, torch.arange(v.shape[0]) * k) + F.cross_entropy(logits.t(), own)) / 2
    ).backward()


def itc_pairs_step(v, t, k):
    """CCLM ITC over N*K (image, caption) pairs: each image repeated for each of its captions."""
    losses.image_text_contrastive_loss(v.repeat_interleave(k, dim=0), t, 0.07).backward()


def per_sample_hard_samples(sim_i2t: torch.Tensor, k: int, sample_type: int = 1):
    """CCRK get_unialign_matching_loss's sampling as written there: Python loops over the B images."""
    b = sim_i2t.shape[0]
    w_i2t = F.softmax(sim_i2t, dim=1) + 1e-5
    w_t2i = F.softmax(sim_i2t.t(), dim=1) + 1e-5
    max_weight, max_sim = w_i2t.max() + 1e-5, sim_i2t.max() + 1e-5
    pos = []
    for i in range(b):
        if sample_type == 0:
            lang = random.choice(range(k))
        elif sample_type == 1:
            lang = torch.multinomial(max_weight - w_i2t[i, i * k : i * k + k], 1).item()
        else:
            lang = torch.multinomial(max_sim - sim_i2t[i, i * k : i * k + k], 1).item()
        pos.append(i * k + lang)
    for i in range(b):
        w_i2t[i, i * k : i * k + k] = 0
        w_t2i[i * k : i * k + k, i] = 0
    neg_img = [torch.multinomial(w_t2i[pos[i]], 1).item() for i in range(b)]
    neg_txt = [torch.multinomial(w_i2t[i], 1).item() for i in range(b)]
    return torch.tensor(pos), torch.tensor(neg_img), torch.tensor(neg_txt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a shared host)")
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {platform.machine()}, {args.threads} thread(s), "
        f"median CPU time of {args.repeats} interleaved runs"
    )
    print("\n1-to-K loss, forward+backward, D=256")
    print(
        f"{'N':>5} {'K':>3} {'1-to-K ms':>10} {'ITC same texts ms':>18} {'ratio':>6} "
        f"{'ITC N*K pairs ms':>17} {'ratio':>6}"
    )
    for n, k in [(64, 10), (128, 10), (128, 6), (256, 10)]:
        v, t = _features(n, k)
        ours, plain = _median_pair(
            lambda: one_to_k_step(v, t, k), lambda: plain_itc_same_texts_step(v, t, k), args.repeats
        )
        _, pairs = _median_pair(lambda: one_to_k_step(v, t, k), lambda: itc_pairs_step(v, t, k), args.repeats)
        print(
            f"{n:>5} {k:>3} {ours * 1e3:>10.3f} {plain * 1e3:>18.3f} {ours / plain:>6.2f} {pairs * 1e3:>17.3f} "
            f"{ours / pairs:>6.2f}"
        )
    print("\nhard-positive + hard-negative sampling (type 1), one batch")
    print(f"{'B':>5} {'K':>3} {'vectorised ms':>14} {'per-sample loop ms':>19} {'speed-up':>9}")
    for b, k in [(64, 10), (128, 10), (64, 6)]:
        sim = torch.randn(b, b * k, generator=torch.Generator().manual_seed(1)) / 0.07
        vec, loop = _median_pair(
            lambda: losses.one_to_k_hard_samples(sim, k, 1),
            lambda: per_sample_hard_samples(sim, k, 1),
            max(20, args.repeats // 5),
        )
        print(f"{b:>5} {k:>3} {vec * 1e3:>14.3f} {loop * 1e3:>19.3f} {loop / vec:>8.1f}x")


if __name__ == "__main__":
    main()
