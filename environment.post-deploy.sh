#!/usr/bin/env bash
# Snakemake runs this after creating the conda env of environment.yml. EasyNMT 2.0.2 declares transformers<5
# and fasttext, neither needed here (README, Translation): install it without its declared dependencies.
set -euo pipefail
pip install --no-deps easynmt==2.0.2
