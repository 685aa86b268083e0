"""Pretraining corpus: `{"caption": {lang: text}, "image_path": ...}` lines (or `"shard", "key"` for a sample
of a webdataset tar: ccrk.data.stream reads those), K captions per image.

The format is docs/method.md#pretraining-corpus.

Collation is image-major: text b*K + k is image b in language k, as the 1-to-K loss expects.
"""

import random
from dataclasses import dataclass

import torch
from PIL import Image
from torch.utils.data import Dataset

from ccrk.data.caption_tokens import CaptionTokens
from ccrk.data.masking import MaskingConfig, mask_batch
from ccrk.data.text import pre_caption
from ccrk.errors import DataError
from ccrk.formats.paths import join_under
from ccrk.io import iter_jsonl


@dataclass
class CorpusItem:
    image_path: str | None  # relative to the image root; None for a shard sample
    captions: list[str]  # one per chosen language, in the chosen order
    shard: str | None = None  # a webdataset tar holding the image as sample `key`
    key: str | None = None


def read_corpus(paths, languages: list[str]) -> list[CorpusItem]:
    """Read corpus shards; every line must carry every chosen language (the builder filtered the rest)."""
    items = []
    for path in paths:
        for line, obj in iter_jsonl(path):
            caption = obj.get("caption")
            if not isinstance(caption, dict):
                raise DataError(
                    path, line, "caption", f"expected an object {{lang: text}}, got {caption!r:.60}"
                )
            missing = [
                lang
                for lang in languages
                if not isinstance(caption.get(lang), str) or not caption[lang].strip()
            ]
            if missing:
                raise DataError(
                    path, line, f"caption.{missing[0]}", f"missing or empty caption (languages {missing})"
                )
            captions = [caption[lang] for lang in languages]
            if "shard" in obj:
                if not (isinstance(obj["shard"], str) and isinstance(obj.get("key"), str)):
                    raise DataError(
                        path, line, "shard/key", "expected a shard path and a sample key (strings)"
                    )
                items.append(CorpusItem(None, captions, obj["shard"], obj["key"]))
            elif isinstance(obj.get("image_path"), str):
                items.append(CorpusItem(obj["image_path"], captions))
            else:
                raise DataError(
                    path, line, "image_path", "expected a relative path string (or shard and key)"
                )
    return items


class PretrainDataset(Dataset):
    def __init__(self, items: list[CorpusItem], image_root, transform, cache: bool = False):
        self.items, self.image_root, self.transform = items, image_root, transform
        self.cache = (
            {} if cache else None
        )  # a deterministic transform's tensors, kept (transforms.cache_images)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        image = None if self.cache is None else self.cache.get(i)
        if image is None:
            with Image.open(join_under(self.image_root, item.image_path)) as im:
                image = self.transform(im.convert("RGB"))
            if self.cache is not None:
                self.cache[i] = image
        return image, item.captions


class PretrainCollator:
    """Stack images; tokenise the B*K captions image-major; mask them (docs/method.md#masked-language-modelling)."""

    def __init__(
        self,
        tokenizer,
        max_tokens: int,
        max_words: int,
        masking: MaskingConfig,
        caption_num: int = 0,
        seed: int = 0,
    ):
        self.tok, self.max_words, self.masking = tokenizer, max_words, masking
        self.caption_num = caption_num  # >0: keep that many random languages per image (CCLM-style with 1)
        self.rng = random.Random(seed)
        self.tokens = CaptionTokens(tokenizer, max_tokens)  # each caption tokenised once, not once per epoch

    def __call__(self, batch):
        images = torch.stack([b[0] for b in batch])
        texts = []
        for _, captions in batch:
            if self.caption_num:  # random subset, kept in the configured language order
                captions = [
                    captions[i] for i in sorted(self.rng.sample(range(len(captions)), self.caption_num))
                ]
            texts.extend(pre_caption(c, self.max_words) for c in captions)
        enc = self.tokens(texts)
        masked_ids, masked_pos, masked_labels = mask_batch(
            enc["input_ids"],
            enc["attention_mask"],
            self.rng,
            self.tok.mask_token_id,
            len(self.tok),
            self.masking,
        )
        return {
            "images": images,
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "masked_ids": masked_ids,
            "masked_pos": masked_pos,
            "masked_labels": masked_labels,
            "k": len(texts) // len(batch),
        }
