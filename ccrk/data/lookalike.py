"""Look-alike batches: images whose captions share words are batched together, so in-batch negatives are near misses.

Random batches of a small corpus rarely hold two images that differ in one detail, so the contrastive loss is met by
the easiest cue (on the demo's scenes, colour alone) and nothing rewards the rest. Grouping look-alikes into each
batch makes the in-batch negatives, and the ITM negatives drawn from them, differ in the details.
"""

from collections import Counter

import numpy as np


def caption_features(captions: list[list[str]]) -> np.ndarray:
    """[N, V] float32: each item's set of lower-cased words over all its captions, weighted by inverse document
    frequency (a word in every caption says nothing) and L2-normalised.

    Words of one item only are left out: they cannot make two items alike (and unspaced zh/ja captions are mostly
    such "words").
    """
    sets = [{w for text in texts for w in text.lower().split()} for texts in captions]
    counts = Counter(w for words in sets for w in words)
    vocab = {w: i for i, w in enumerate(w for w, c in counts.items() if c > 1)}
    idf = np.log(len(sets) / np.array([counts[w] for w in vocab], dtype=np.float32))
    x = np.zeros((len(sets), max(len(vocab), 1)), dtype=np.float32)
    for i, words in enumerate(sets):
        cols = [vocab[w] for w in words if w in vocab]
        x[i, cols] = idf[cols]
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def same_text_ids(captions: list[list[str]]) -> np.ndarray:
    """[N] int: equal for items whose captions are all equal (each other's false negatives)."""
    ids: dict[tuple[str, ...], int] = {}
    return np.array([ids.setdefault(tuple(texts), len(ids)) for texts in captions])


def lookalike_order(
    features: np.ndarray, group: int, rng: np.random.Generator, text_ids: np.ndarray | None = None
) -> list[int]:
    """A permutation made of runs of `group` look-alikes: each run is a random unused item and the unused items
    whose caption words are closest to it (cosine), the full runs in random order, then the shorter ones.
    With `text_ids`, a run takes no two items of the same text while others are near (false negatives).

    Cost O(N^2 V / group): meant for corpora that fit in memory (the demo's 2000 images take a second).
    """
    if group < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    n = len(features)
    ids = np.arange(n) if text_ids is None else text_ids
    used = np.zeros(n, dtype=bool)
    jitter = rng.random(n, dtype=np.float32) * 1e-4  # breaks the many exact ties of word sets at random
    runs = []
    for head in rng.permutation(n):
        if used[head]:
            continue
        sims = features @ features[head] + jitter
        sims[used] = -np.inf
        sims[head] = np.inf  # the head leads its own run
        left = int((~used).sum())
        k = min(4 * group, left)
        shortlist = np.argpartition(-sims, k - 1)[:k]
        shortlist = [int(c) for c in shortlist[np.argsort(-sims[shortlist])]]
        run, texts = [], set()
        for c in shortlist:
            if len(run) < group and ids[c] not in texts:
                run.append(c)
                texts.add(ids[c])
        run += [c for c in shortlist if c not in run][: min(group, left) - len(run)]  # only copies are near
        used[run] = True
        runs.append(run)
    # short runs last: batches of a multiple of `group` then hold whole runs
    full = [runs[r] for r in rng.permutation(len(runs)) if len(runs[r]) == group]
    return [i for run in full + [r for r in runs if len(r) < group] for i in run]
