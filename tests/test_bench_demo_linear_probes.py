"""bench/demo_linear_probes.py: the probe's accuracy on data whose answer is known, and the features it reads."""

import importlib.util
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("demo_linear_probes", REPO / "bench" / "demo_linear_probes.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_probe_reads_a_linear_label_and_not_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 8, generator=g)
    y = x[:, 2:6].argmax(1)  # 4 classes, linearly separable (the largest of four coordinates)
    assert bench.linear_probe_accuracy(x, y, 4, 300) >= 90.0
    noise = torch.randint(0, 4, (400,), generator=g)
    assert bench.linear_probe_accuracy(x, noise, 4, 300) <= 40.0  # chance 25 %
    scaled = x.clone()
    scaled[:, 3] *= 1e4  # standardised on the training rows: scale does not matter
    assert bench.linear_probe_accuracy(scaled, y, 4, 300) >= 90.0


def test_probe_needs_rows_on_both_sides():
    with pytest.raises(ValueError, match="n_train"):
        bench.linear_probe_accuracy(torch.zeros(10, 2), torch.zeros(10, dtype=torch.long), 2, 10)


def test_features_and_labels_of_one_object_scenes(tiny_model, tiny_tokenizer):
    feats, labels = bench.probe_features(tiny_model, tiny_tokenizer, 12, ["en", "ja"], 32, seed=0)
    assert labels.shape == (12, 4)
    for j, values in enumerate(bench.ATTRIBUTES.values()):
        assert 0 <= int(labels[:, j].min()) and int(labels[:, j].max()) < len(values)
    d = tiny_model.cfg.embed_dim
    assert feats["image ITC feature"].shape == (12, d) and feats["text ITC feature, ja"].shape == (12, d)
    width = feats["image pooled token"].shape[1]
    # 32 px: 8x8 patches merged to 4x4 tokens
    assert feats["image patch tokens, flattened"].shape == (12, width * 16)
    # the pooled token is the patch tokens' mean (the model's average pooling)
    tokens = feats["image patch tokens, flattened"].view(12, 16, width)
    assert torch.allclose(feats["image pooled token"], tokens.mean(1), atol=1e-5)
