"""Kind `open_clip`: any open_clip_torch model (built-in name, `local-dir:`, `hf-hub:`, or a registered config)."""

from __future__ import annotations

import logging

from ccrk.retrieval import Features
from ccrk.zoo.base import DualEncoder, normalise_text
from ccrk.zoo.languages import flores_code
from ccrk.zoo.spec import OpenCLIPSpec, RunSettings

log = logging.getLogger("ccrk.zoo.open_clip")


def _create(spec: OpenCLIPSpec, device: str, network: bool):
    import open_clip

    if spec.model_config:
        open_clip.add_model_config(spec.model_config)  # a custom architecture's JSON, named by its file stem
    try:
        return open_clip.create_model_and_transforms(
            spec.model, pretrained=spec.weights or spec.pretrained or None, device=device
        )
    except (RuntimeError, OSError, ValueError) as e:
        hint = (
            ""
            if network or not spec.pretrained
            else f"; pretrained tag {spec.pretrained!r} is read from the Hugging Face cache offline: download it "
            "first (README, zero-shot section) or set zeroshot.network: true"
        )
        raise RuntimeError(
            f"zeroshot.models[{spec.name}]: open_clip could not load {spec.model!r}: {e}{hint}"
        ) from e


class OpenCLIPEncoder(DualEncoder):
    def __init__(self, spec: OpenCLIPSpec, settings: RunSettings, network: bool = False):
        import open_clip

        if not spec.model:
            raise ValueError(f"zeroshot.models[{spec.name}]: kind open_clip needs a model name")
        self.spec, self.device = spec, settings.device
        self.model, _, self.image_transform = _create(spec, settings.device, network)
        self.model.eval()
        if spec.tokenizer:
            context = self.model.context_length if hasattr(self.model, "context_length") else None
            self.tokenizer = open_clip.tokenizer.HFTokenizer(spec.tokenizer, context_length=context)
        else:
            self.tokenizer = open_clip.get_tokenizer(spec.model)
        self.language = None

    def encode_image_batch(self, pixels) -> Features:
        return Features(None, None, self.model.encode_image(pixels))

    def _set_language(self, lang: str) -> None:
        if self.spec.set_language and lang != self.language:
            self.tokenizer.set_language(flores_code(lang, self.spec.language_codes))
            self.language = lang

    def encode_text_batch(self, texts: list[str], lang: str) -> Features:
        self._set_language(lang)
        tokens = self.tokenizer([normalise_text(t, self.spec.text_normalise) for t in texts])
        return Features(None, None, self.model.encode_text(tokens.to(self.device)))

    def info(self) -> dict:
        import open_clip

        return {
            "library": f"open_clip_torch {open_clip.__version__}",
            "model": self.spec.model,
            "model_config": self.spec.model_config or None,
            "weights": self.spec.weights or None,
            "pretrained": self.spec.pretrained or None,
            "tokenizer": f"{type(self.tokenizer).__name__}"
            + (f"({self.spec.tokenizer!r})" if self.spec.tokenizer else f" of {self.spec.model!r}")
            + f", context {getattr(self.tokenizer, 'context_length', None)}",
            "text_normalise": self.spec.text_normalise + " (then the tokenizer's own cleaning)",
            "source_language": "FLORES-200 code per test language" if self.spec.set_language else None,
            "image_transform": repr(self.image_transform),
            "scoring": "itc (cosine similarity)",
        }
