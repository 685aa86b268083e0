"""`python -m ccrk` / `ccrk`: the pipeline's operations without Snakemake."""

from ccrk.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
