"""Token ids of cleaned captions, kept across batches: a caption seen in every epoch is tokenised once.

`CaptionTokens(tok, max_tokens)(texts)` returns what `tok(texts, padding="longest", truncation=True,
max_length=max_tokens, return_tensors="pt")` returns (input_ids and attention_mask, right-padded), value for
value. The tokenizer's call costs about 14 ms for the demo's 320 captions of a pretraining batch, half of it
transformers' Python around the Rust tokenizer; a batch read from memory is padded in 0.2 ms
(`bench/caption_tokens.py`).

The memory is bounded: past `max_entries` captions, new ones are tokenised on every call and not kept (a CC3M
corpus has 30M captions in 10 languages; each is met once per epoch, so keeping them would buy nothing). A
loader worker holds its own copy, which lives as long as the worker.
"""

from __future__ import annotations

from array import array

import torch

MAX_ENTRIES = 200_000  # about 70 MB: a caption's text and 4 bytes per id; the demo's pretraining has 20,000


class CaptionTokens:
    def __init__(self, tokenizer, max_tokens: int, max_entries: int = MAX_ENTRIES):
        if tokenizer.padding_side != "right":
            raise ValueError(
                f"expected a right-padding tokenizer, got padding_side={tokenizer.padding_side!r}"
            )
        self.tok, self.max_tokens, self.max_entries = tokenizer, max_tokens, max_entries
        self.ids: dict[str, array] = {}  # int32 ids: a tuple of ints takes 5x the memory

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.ids))
        fresh = {}
        if missing:
            encoded = self.tok(missing, truncation=True, max_length=self.max_tokens)["input_ids"]
            fresh = {t: array("i", ids) for t, ids in zip(missing, encoded)}
            room = self.max_entries - len(self.ids)
            self.ids.update(list(fresh.items())[: max(room, 0)])
        rows = [self.ids[t] if t in self.ids else fresh[t] for t in texts]
        lengths = torch.tensor([len(row) for row in rows])
        mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]  # [N, width], right padding
        input_ids = torch.full(mask.shape, self.tok.pad_token_id, dtype=torch.long)
        input_ids[mask] = torch.frombuffer(bytearray().join(rows), dtype=torch.int32).long()  # row-major fill
        return {"input_ids": input_ids, "attention_mask": mask.long()}
