"""The demo's zero-shot inputs: its test set in XM3600's layout, and two tiny random dual encoders.

The tiny models are random (chance-level retrieval): they exercise the open_clip and transformers paths of
the zero-shot harness offline, with the same files a real model brings (a registered open_clip config and
a weights file; a transformers directory with model, image processor and tokenizer).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ccrk.formats.iglue import read_iglue
from ccrk.io import atomic_dir, atomic_open, atomic_path, write_jsonl

TINY_OPEN_CLIP = "ccrk-demo-tiny-clip"  # the registered config's name = its file stem


def write_demo_xm3600(
    test_files: dict[str, str], flickr30k_test, image_roots: dict[str, str], out_dir
) -> dict:
    """captions.jsonl + images/{key}.jpg from the xFlickr&CO-style test files (one caption per language);
    English takes the 5 Flickr30K-style captions of the Flickr half, so `all` and `first` differ there."""
    english = {str(r.id): r.sentences for r in read_iglue(flickr30k_test)}
    lines: dict[str, dict] = {}
    sources: dict[str, Path] = {}
    for lang, path in test_files.items():
        for rec in read_iglue(path):
            key = Path(rec.img_path).stem
            root = image_roots["coco" if "COCO" in rec.img_path else "flickr"]
            sources[key] = Path(root) / rec.img_path
            captions = english.get(str(rec.id), rec.sentences) if lang == "en" else rec.sentences
            lines.setdefault(key, {"image/key": key})[lang] = {"caption": captions}
    out = Path(out_dir)
    with atomic_dir(out / "images") as tmp:
        for key, src in sources.items():
            shutil.copyfile(src, tmp / f"{key}.jpg")
    write_jsonl(out / "captions.jsonl", lines.values())
    return {"images": len(lines), "locales": list(test_files)}


def write_tiny_open_clip(out_dir, seed: int = 0, image_size: int = 32, width: int = 32) -> dict:
    """`ccrk-demo-tiny-clip.json` (an open_clip model config) and `tiny-open-clip.pt` (its random weights);
    returns the `zeroshot.models` entry that loads them."""
    import open_clip
    import torch

    out = Path(out_dir)
    config = {
        "embed_dim": width,
        "vision_cfg": {
            "image_size": image_size,
            "layers": 1,
            "width": width,
            "patch_size": 8,
            "head_width": 16,
        },
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": width, "heads": 2, "layers": 1},
    }
    with atomic_open(out / f"{TINY_OPEN_CLIP}.json") as f:
        json.dump(config, f, indent=1)
    open_clip.add_model_config(out / f"{TINY_OPEN_CLIP}.json")
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_OPEN_CLIP)
    with atomic_path(out / "tiny-open-clip.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    return {
        "name": "tiny-open-clip",
        "kind": "open_clip",
        "model": TINY_OPEN_CLIP,
        "model_config": str(out / f"{TINY_OPEN_CLIP}.json"),
        "weights": str(out / "tiny-open-clip.pt"),
    }


def write_tiny_siglip(out_dir, tokenizer_dir, seed: int = 0, max_length: int = 48) -> None:
    """A random SigLIP with the demo's multilingual tokenizer, saved as a transformers directory."""
    import torch
    from transformers import AutoTokenizer, SiglipConfig, SiglipImageProcessor, SiglipModel

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    special = {
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    layer = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = SiglipConfig(
        text_config={"vocab_size": len(tok), "max_position_embeddings": max_length, **layer, **special},
        vision_config={"image_size": 32, "patch_size": 8, **layer},
    )
    torch.manual_seed(seed)
    with atomic_dir(out_dir) as tmp:
        SiglipModel(config).save_pretrained(tmp)
        SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp)
        tok.save_pretrained(tmp)


def write_demo_zoo(out_dir, tokenizer_dir, seed: int = 0) -> None:
    write_tiny_open_clip(out_dir, seed)
    write_tiny_siglip(Path(out_dir) / "tiny-siglip", tokenizer_dir, seed)
