"""ccrk: cross-lingual cross-modal retrieval with 1-to-K contrastive learning (CCRK, KDD 2024)."""

import os

__version__ = "0.1.0"

# torch reads it once, before its first large CPU allocation: big buffers on transparent huge pages take far
# fewer page faults (bench/train_step.py: a faster training step, the same numbers); 0 turns it off
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
