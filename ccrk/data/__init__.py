"""Datasets, readers, collation, masking and transforms."""
