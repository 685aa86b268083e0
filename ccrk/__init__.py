"""ccrk: cross-lingual cross-modal retrieval with 1-to-K contrastive learning (CCRK, KDD 2024)."""

__version__ = "0.1.0"
