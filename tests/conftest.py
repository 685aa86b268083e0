"""Shared fixtures: offline environment, fixture paths, a tiny model and tokenizer built on the fly."""

import os
import random
import sys
from pathlib import Path

import pytest

from ccrk.jobs import go_offline

go_offline()  # never let a test touch a model hub

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"  # real public-data samples; SOURCE.md in each folder


def snakemake_command(workdir, *args) -> list[str]:
    """`snakemake` on this repository's Snakefile with `workdir` as its working directory, then `args`."""
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    return [*snakemake, "--directory", str(workdir), *map(str, args)]


TINY_MODEL = {
    "vision": {
        "image_res": 32,
        "patch_size": 4,
        "embed_dim": 16,
        "depths": [1, 1],
        "num_heads": [2, 2],
        "window_size": 4,
        "drop_path_rate": 0.0,
    },
    "text": {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_text_layers": 1,
        "num_fusion_layers": 1,
        "max_position_embeddings": 42,
        "dropout": 0.0,
    },
    "embed_dim": 16,
}


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory):
    """A small synthetic dataset in the IGLUE layout, shared by the tests that need real files."""
    from ccrk.demo.dataset import write_demo_dataset

    out = tmp_path_factory.mktemp("demo")
    write_demo_dataset(
        out, seed=3, image_size=32, n_pretrain=64, n_train=24, n_valid=8, n_test=12, fewshot_sizes=[4]
    )
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory, demo_dataset):
    """An XLM-R-style unigram tokenizer (`ccrk.tokenizer.train_tokenizer`: vocabulary by counting, no
    sentencepiece model) built from the demo captions of every language."""
    from ccrk.io import iter_jsonl
    from ccrk.tokenizer import train_tokenizer

    sentences = [
        c for _, obj in iter_jsonl(demo_dataset / "pretrain" / "given.jsonl") for c in obj["caption"].values()
    ]
    for lang in ("es", "id", "ru", "tr"):
        path = demo_dataset / "iglue" / "datasets" / "xFlickrCO" / "annotations" / lang / "test.jsonl"
        sentences += [s for _, obj in iter_jsonl(path) for s in obj["sentences"]]
    random.Random(0).shuffle(sentences)
    return train_tokenizer(sentences, tmp_path_factory.mktemp("tok") / "tokenizer", vocab_size=300)


@pytest.fixture
def tiny_model(tiny_tokenizer):
    import torch

    from ccrk.models import CCRKModel
    from ccrk.pretrain import model_config_for

    torch.manual_seed(0)
    return CCRKModel(model_config_for(tiny_tokenizer, TINY_MODEL)).eval()


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_collection_modifyitems(config, items):
    """The SLURM cluster test last: while SLURM's client is installed, every `snakemake` start runs the executor
    plugin's `scontrol show config` probe (about 9 s once the controller has stopped, until teardown purges it)."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)
