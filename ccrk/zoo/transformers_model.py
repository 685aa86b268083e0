"""Kind `transformers`: a local model directory with `get_image_features` / `get_text_features` (SigLIP, SigLIP 2,
CLIP, Meta CLIP 2, ...), its own image processor and tokenizer."""

from __future__ import annotations

import inspect
import logging

import torch

from ccrk.retrieval import Features
from ccrk.zoo.base import DualEncoder, normalise_text
from ccrk.zoo.spec import RunSettings, TransformersSpec

log = logging.getLogger("ccrk.zoo.transformers")


class ProcessorTransform:
    """PIL image -> the processor's tensors for one image (a dict: SigLIP 2 NaFlex adds masks and shapes)."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, image) -> dict[str, torch.Tensor]:
        out = self.processor(images=image, return_tensors="pt")
        return {k: v[0] for k, v in out.items() if isinstance(v, torch.Tensor)}

    def __repr__(self) -> str:
        return repr(self.processor).replace("\n", " ")


def features_of(output) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output holds the features; older versions a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class TransformersEncoder(DualEncoder):
    def __init__(self, spec: TransformersSpec, settings: RunSettings, network: bool = False):
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        if not spec.path:
            raise ValueError(f"zeroshot.models[{spec.name}]: kind transformers needs a path")
        self.spec, self.device = spec, settings.device
        local = {"local_files_only": not network}
        self.model = AutoModel.from_pretrained(spec.path, **local).to(settings.device).eval()
        for method in ("get_image_features", "get_text_features"):
            if not hasattr(self.model, method):
                raise ValueError(f"zeroshot.models[{spec.name}]: {type(self.model).__name__} has no {method}")
        self.tokenizer = AutoTokenizer.from_pretrained(spec.path, **local)
        self.image_transform = ProcessorTransform(AutoImageProcessor.from_pretrained(spec.path, **local))
        self.text_inputs = set(inspect.signature(self.model.get_text_features).parameters)
        self.max_length = spec.max_length or min(self.tokenizer.model_max_length, 10**6)
        if "siglip" in self.model.config.model_type and spec.padding != "max_length":
            # SigLIP's text tower pools the last position, padding included: shorter padding changes features
            log.warning(
                "%s: SigLIP was trained on texts padded to max_length; padding %r changes its features",
                spec.name,
                spec.padding,
            )

    def encode_image_batch(self, pixels) -> Features:
        return Features(None, None, features_of(self.model.get_image_features(**pixels)))

    def _prepare(self, texts: list[str]) -> list[str]:
        return [normalise_text(t, self.spec.text_normalise) for t in texts]

    def encode_text_batch(self, texts: list[str], lang: str) -> Features:
        enc = self.tokenizer(
            self._prepare(texts),
            padding=self.spec.padding,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        inputs = {k: v.to(self.device) for k, v in enc.items() if k in self.text_inputs}
        return Features(None, None, features_of(self.model.get_text_features(**inputs)))

    def info(self) -> dict:
        import transformers

        return {
            "library": f"transformers {transformers.__version__}",
            "path": self.spec.path,
            "model_class": type(self.model).__name__,
            "tokenizer": f"{type(self.tokenizer).__name__}, padding {self.spec.padding}, max {self.max_length} tokens",
            "text_normalise": self.spec.text_normalise,
            "image_transform": repr(self.image_transform),
            "scoring": "itc (cosine similarity)",
        }
