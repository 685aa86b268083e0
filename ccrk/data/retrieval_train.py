"""Retrieval fine-tuning data: one item per (image, caption); `idx` marks captions of the same image."""

import torch
from torch.utils.data import Dataset

from ccrk.data.caption_tokens import CaptionTokens
from ccrk.data.images import open_image
from ccrk.data.text import pre_caption


class RetrievalTrainDataset(Dataset):
    def __init__(self, items, transform, cache: bool = False):
        self.items, self.transform = (
            items,
            transform,
        )  # RetrievalTrainItem; image_path may be image bytes (WIT)
        self.cache = {} if cache else None  # image_idx -> tensor of a deterministic transform (each image has
        # several captions: decoded once, not once per caption and epoch)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        image = None if self.cache is None else self.cache.get(item.image_idx)
        if image is None:
            image = self.transform(open_image(item.image_path))
            if self.cache is not None:
                self.cache[item.image_idx] = image
        return image, item.caption, item.image_idx


class RetrievalCollator:
    def __init__(self, tokenizer, max_tokens: int, max_words: int):
        self.tokens, self.max_words = CaptionTokens(tokenizer, max_tokens), max_words  # tokenised once each

    def __call__(self, batch):
        texts = [pre_caption(b[1], self.max_words) for b in batch]
        enc = self.tokens(texts)
        return {
            "images": torch.stack([b[0] for b in batch]),
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "idx": torch.tensor([b[2] for b in batch]),
        }
