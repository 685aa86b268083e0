"""Readers and reformatters of the public datasets, one module each (IGLUE, WIT, Multi30K, MSCOCO)."""
