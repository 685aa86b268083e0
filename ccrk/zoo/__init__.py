"""Models scored zero-shot beside CCRK: one module per kind (ccrk, open_clip, transformers).

No model code of ours for the dual encoders: open_clip_torch and transformers build them, with their own
image transforms and tokenizers. `load_encoder` returns an object with the interface of `ccrk.zoo.base`.
"""

from __future__ import annotations

from ccrk.zoo.spec import KINDS, CCRKSpec, ModelSpec, OpenCLIPSpec, RunSettings, TransformersSpec, model_spec

__all__ = ["KINDS", "ModelSpec", "RunSettings", "load_encoder", "model_spec"]


def load_encoder(
    spec: ModelSpec,
    settings: RunSettings,
    *,
    tokenizer_dir: str = "",
    evaluate: dict | None = None,
    network=False,
):
    """The encoder of one `zeroshot.models` entry; imports only its kind's library."""
    if isinstance(spec, CCRKSpec):
        from ccrk.zoo.ccrk_checkpoint import CCRKEncoder

        return CCRKEncoder(spec, settings, tokenizer_dir, evaluate)
    if isinstance(spec, OpenCLIPSpec):
        from ccrk.zoo.open_clip_model import OpenCLIPEncoder

        return OpenCLIPEncoder(spec, settings, network)
    if isinstance(spec, TransformersSpec):
        from ccrk.zoo.transformers_model import TransformersEncoder

        return TransformersEncoder(spec, settings, network)
    raise ValueError(f"unknown model kind {spec.kind!r}; expected one of {KINDS}")
