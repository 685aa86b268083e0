"""The models of `zeroshot.models` (ccrk/schema.yaml) as dataclasses, one per kind, and the run settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

KINDS = ("ccrk", "open_clip", "transformers")
NORMALISATIONS = ("none", "lower", "pre_caption")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass
class ModelSpec:
    name: str  # the row name in every table, the leaderboard and the CLIP_benchmark JSON
    kind: str  # ccrk | open_clip | transformers
    description: str = ""  # one line shown in the leaderboard (what the model is, how it was trained)


@dataclass
class CCRKSpec(ModelSpec):
    checkpoint: str = ""  # a ccrk checkpoint or a released CCRK/CCLM .th (converted on load)
    tokenizer: str = ""  # XLM-R tokenizer directory; "" = tokenizer.path or the demo's results/tokenizer
    rerank: bool = True  # also rank ITC top-k by the ITM logit (the leaderboard then has an ITC-only row too)
    image_res: int | None = (
        None  # evaluate at this resolution (Swin tables resampled); None: the checkpoint's
    )
    window_size: int | None = None  # Swin window at image_res; None: the checkpoint's
    evaluate: dict = field(default_factory=dict)  # overrides of the top-level evaluate section (k_test, ...)


@dataclass
class OpenCLIPSpec(ModelSpec):
    model: str = (
        ""  # open_clip model name, `local-dir:DIR` (config, weights, tokenizer in one folder) or `hf-hub:`
    )
    model_config: str = (
        ""  # JSON model config registered with open_clip.add_model_config (custom architectures)
    )
    weights: str = ""  # local weights file (.pt, .bin, .safetensors)
    pretrained: str = (
        ""  # open_clip pretrained tag (Hugging Face cache; a download only with zeroshot.network)
    )
    tokenizer: str = ""  # local Hugging Face tokenizer directory instead of the one the config names
    text_normalise: str = "none"  # none | lower | pre_caption (CCLM's; only for models trained with it)
    set_language: bool = False  # NLLB text towers: set the tokenizer's source language per test language
    language_codes: dict = field(
        default_factory=dict
    )  # test language -> FLORES-200 code, over the built-in map


@dataclass
class TransformersSpec(ModelSpec):
    path: str = ""  # local model directory (a hub id only with zeroshot.network)
    text_normalise: str = "none"  # none | lower (SigLIP 2 was trained on lower-case text) | pre_caption
    padding: str = "longest"  # "max_length" for SigLIP / SigLIP 2, trained on texts padded to 64 tokens
    max_length: int | None = None  # text tokens (SigLIP: 64); None: the tokenizer's model_max_length


SPEC_OF_KIND = {"ccrk": CCRKSpec, "open_clip": OpenCLIPSpec, "transformers": TransformersSpec}


def model_spec(d: dict) -> ModelSpec:
    """The dataclass of one `zeroshot.models` entry; unknown keys and kinds fail naming the model."""
    where = f"zeroshot.models[{d.get('name', '?')}]"
    if d.get("kind") not in SPEC_OF_KIND:
        raise ValueError(f"{where}: kind {d.get('kind')!r}; expected one of {KINDS}")
    kind = SPEC_OF_KIND[d["kind"]]
    unknown = sorted(set(d) - {f.name for f in fields(kind)})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} for kind {d['kind']}")
    spec = kind(**d)
    for key, allowed in (("text_normalise", NORMALISATIONS),):
        if getattr(spec, key, allowed[0]) not in allowed:
            raise ValueError(f"{where}: {key} {getattr(spec, key)!r}; expected one of {allowed}")
    if isinstance(spec, OpenCLIPSpec) and spec.weights and spec.pretrained:
        raise ValueError(f"{where}: give weights (a local file) or pretrained (a tag), not both")
    return spec


def spec_dict(spec: ModelSpec) -> dict:
    """Plain builtins (for Snakemake params and the results' `model_info`)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(spec).items()}


@dataclass
class RunSettings:
    """How encoding runs; none of it changes a rank beyond floating-point rounding (fp32 on CPU)."""

    device: str = "cpu"
    batch_size: int = 64  # images or texts per encoder pass
    num_workers: int = 4  # image decoding processes
    precision: str = "auto"  # GPU autocast: auto = bf16 where supported, else fp16; fp32 = none. CPU: fp32
