"""CaptionTokens gives the tokenizer's own padded batch, keeps at most `max_entries` captions, and is reused."""

import json
import random
from pathlib import Path

import pytest
import torch

from ccrk.data.caption_tokens import CaptionTokens
from ccrk.data.text import blank_caption, pre_caption

XFC = Path(__file__).resolve().parent / "fixtures" / "iglue" / "datasets" / "xFlickrCO" / "annotations"


def _real_captions() -> list[str]:
    """Cleaned captions of the xFlickr&CO fixture in every language it has (zh/ja: no spaces; long ones too)."""
    texts = []
    for path in sorted(XFC.glob("*/test.jsonl")):
        with open(path, encoding="utf-8") as f:
            raw = [json.loads(line)["sentences"][0] for line in f]
            texts += [pre_caption(c, 40) for c in raw if not blank_caption(c)]  # readers drop blank ones
    return texts


def _reference(tok, texts, max_tokens):
    return tok(texts, padding="longest", truncation=True, max_length=max_tokens, return_tensors="pt")


@pytest.mark.parametrize("max_tokens", [8, 48])  # 8 truncates most captions; 48 few, and pads the rest
def test_batches_equal_the_tokenizer_call_across_epochs(tiny_tokenizer, max_tokens):
    texts = _real_captions()
    assert len({Path(p).parent.name for p in XFC.glob("*/test.jsonl")}) >= 4
    tokens = CaptionTokens(tiny_tokenizer, max_tokens)
    rng = random.Random(0)
    for _epoch in range(2):  # the second epoch reads every caption from memory
        order = rng.sample(texts, len(texts))
        for start in range(0, 320, 32):
            batch = order[start : start + 32] + order[start : start + 2]  # a caption twice in one batch
            got, want = tokens(batch), _reference(tiny_tokenizer, batch, max_tokens)
            for key in ("input_ids", "attention_mask"):
                assert got[key].dtype == want[key].dtype
                assert torch.equal(got[key], want[key]), key
            assert (want["attention_mask"] == 0).any() or max_tokens == 8  # padded rows, not only full ones
    assert any(len(tiny_tokenizer(t)["input_ids"]) > max_tokens for t in texts)  # truncation is exercised


def test_memory_is_bounded_and_captions_past_the_bound_still_tokenise(tiny_tokenizer):
    texts = _real_captions()[:50]
    tokens = CaptionTokens(tiny_tokenizer, 48, max_entries=20)
    got = tokens(texts)
    assert len(tokens.ids) == 20
    assert set(tokens.ids) == set(list(dict.fromkeys(texts))[:20])
    assert torch.equal(got["input_ids"], _reference(tiny_tokenizer, texts, 48)["input_ids"])
    again = tokens(texts[::-1])
    assert len(tokens.ids) == 20
    assert torch.equal(again["input_ids"], _reference(tiny_tokenizer, texts[::-1], 48)["input_ids"])


def test_a_left_padding_tokenizer_is_refused(tiny_tokenizer):
    tiny_tokenizer.padding_side = "left"
    try:
        with pytest.raises(ValueError, match="padding_side='left'"):
            CaptionTokens(tiny_tokenizer, 48)
    finally:
        tiny_tokenizer.padding_side = "right"


class CountingTokenizer:
    """The tokenizer, counting the captions it is asked to tokenise."""

    def __init__(self, tok):
        self.tok, self.seen = tok, []

    def __getattr__(self, name):
        return getattr(self.tok, name)

    def __call__(self, texts, **kwargs):
        self.seen += texts
        return self.tok(texts, **kwargs)


def test_each_caption_is_tokenised_once_across_batches_and_epochs(tiny_tokenizer):
    texts = _real_captions()[:96]
    counting = CountingTokenizer(tiny_tokenizer)
    tokens = CaptionTokens(counting, 48)
    rng = random.Random(1)
    for _epoch in range(3):
        order = rng.sample(texts, len(texts))
        for start in range(0, len(order), 32):
            tokens(order[start : start + 32] + order[start : start + 3])  # 3 captions twice in a batch
    assert sorted(counting.seen) == sorted(set(texts))
