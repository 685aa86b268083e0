"""Stage configurations as dataclasses, built from the validated YAML config's plain dicts."""

from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass, replace

from ccrk.data.masking import MaskingConfig


def from_dict(kind, d: dict | None, where: str, base=None):
    """Build dataclass `kind` from a dict; unknown keys fail, lists become tuples.

    A nested dataclass field is laid over that field's default, so a stage keeps its own defaults for the
    keys a config leaves out (pretraining's lr_mult 2, fine-tuning's 1). `base`: the instance to lay over.
    """
    d = dict(d or {})
    known = {f.name: f for f in fields(kind)}
    unknown = set(d) - set(known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; expected some of {sorted(known)}")
    values = {}
    for name, value in d.items():
        factory = known[name].default_factory
        default = factory() if factory is not MISSING else None
        if isinstance(value, dict) and is_dataclass(default):
            values[name] = from_dict(type(default), value, f"{where}.{name}", base=default)
        else:
            values[name] = tuple(value) if isinstance(value, list) else value
    return replace(base, **values) if base is not None else kind(**values)


@dataclass
class OptimConfig:
    """AdamW and its linear schedule, one sub-config (`optimizer:`) of pretraining and of fine-tuning."""

    lr: float = 1e-4  # base learning rate
    lr_mult: float = (
        1.0  # for newly initialised parameters: 2 in pretraining; fine-tuning has none (must be 1)
    )
    weight_decay: float = 0.01  # AdamW decay, not applied to biases and norms
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    warmup: float = 0.1  # < 1: fraction of all steps; >= 1: number of steps
    grad_clip: float = 1.0  # max global grad norm


@dataclass
class ImageAugConfig:
    crop_scale_min: float = 0.5  # RandomResizedCrop lower scale (0.2 pretraining, 0.5 fine-tuning)
    hflip: bool = True  # off for data whose captions name left and right
    randaugment: bool = True  # RandAugment(2, 7), the ALBEF recipe


@dataclass
class LossWeights:
    itc: float = 1.0  # 1-to-K contrastive (the paper sums the three unweighted)
    itm: float = 1.0  # image-text matching
    mlm: float = 1.0  # masked language modelling


@dataclass
class FinetuneLossWeights:
    itc: float = 1.0  # ITC with same-image positives (the original sums the two unweighted)
    itm: float = 1.0  # image-text matching


@dataclass
class PretrainConfig:
    languages: tuple[str, ...] = (
        "zh",
        "en",
        "de",
        "fr",
        "ja",
        "cs",
        "id",
        "es",
        "ru",
        "tr",
    )  # K captions per image
    batch_size: int = 64  # images per GPU; each brings K captions
    epochs: int = 30
    # newly initialised parameters learn twice as fast; warm-up 2500 / (2772 x 30) of all steps (CCLM's)
    optimizer: OptimConfig = field(
        default_factory=lambda: OptimConfig(lr=1e-4, lr_mult=2.0, warmup=0.03006253006253006)
    )
    epoch_size: int | None = (
        None  # images per epoch for the schedule (CCRK 2m: 996964); None: the corpus size
    )
    max_tokens: int = 40  # tokens per caption, <s> and </s> included
    max_words: int = 40  # pre_caption word cut
    caption_num: int = 0  # 0: all K languages (CCRK); c > 0: c random languages per image (1 = CCLM-style)
    sample_type: int = (
        1  # hard-positive language sampler: 0 uniform, 1 inverse probability, 2 inverse similarity
    )
    divisor: float | None = None  # 1-to-K loss divisor: None = K (the code), negative = none
    # False: uniform ITM negatives (an ITM trained from scratch needs easy ones first); a number in [0, 1]: between;
    # [start, end]: ramped linearly over the stage's steps (ccrk.losses.hardness_at)
    itm_hard_negatives: bool | float | tuple[float, float] = True
    itm_skip_same_text: bool = False  # True: no ITM negative has the same text as one of its image's captions
    # > 1: batches made of runs of this many images with similar captions (ccrk.data.lookalike), so in-batch and
    # ITM negatives are near misses; 0: random batches (the paper). Image files only, not tar shards
    lookalike_group: int = 0
    loss_weights: LossWeights = field(default_factory=LossWeights)  # the logged losses are the weighted ones
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    augment: ImageAugConfig = field(default_factory=lambda: ImageAugConfig(crop_scale_min=0.2))
    seed: int = 42
    save_every: int = 10000  # optimizer steps between resumable checkpoints
    num_workers: int = 4  # DataLoader workers per process
    shuffle_buffer: int = 5000  # samples per loader worker mixed before batching (tar shards only)
    gather_grad: str = "local"  # DDP all-gather backward: "local" as the original, "full" = one big process
    precision: str = "fp16"  # fp32 | fp16 (+ GradScaler; CUDA, the original) | bf16 (also native-bf16 CPUs)
    checkpoint: str = (
        ""  # a released checkpoint used instead of pretraining (rules/common.smk pretrained_model)
    )


@dataclass
class FinetuneConfig:
    batch_size: int = 8  # (image, caption) pairs per GPU
    epochs: int = 10
    optimizer: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-5, warmup=0.1))
    max_tokens: int = 80
    max_words: int = 80
    start_eval: int = 7  # first epoch (0-based) evaluated on the validation set for model selection
    eval_every: int = 1  # then every this many epochs, and the last epoch (few-shot: 10)
    image_res: int | None = None  # fine-tuning resolution (paper: 384); None: the pretrained model's
    window_size: int | None = (
        None  # Swin window (paper: 12); tables resampled on load; None: the pretrained model's
    )
    itm_hard_negatives: bool | float | tuple[float, float] = True  # as pretraining's key
    itm_skip_same_text: bool = False  # as pretraining's key
    loss_weights: FinetuneLossWeights = field(default_factory=FinetuneLossWeights)  # logged weighted
    augment: ImageAugConfig = field(default_factory=ImageAugConfig)
    seed: int = 42
    save_every: int = 10000
    num_workers: int = 4
    gather_grad: str = "local"  # as in PretrainConfig
    precision: str = "fp32"  # as in PretrainConfig; fp32 is the original's (no autocast in its fine-tuning)


@dataclass
class EvalConfig:
    k_test: int = 128  # ITC candidates re-ranked by ITM per query
    batch_size: int = 64  # images or texts per encoder pass
    fusion_batch_size: int = 256  # (query, candidate) pairs per fusion pass
    max_tokens: int = 80
    max_words: int = 80
    captionless_images: str = "keep"  # an image whose captions are all empty: keep (a distractor) or drop


# Settings that change how fast a stage runs, never its result: kept out of Snakemake's params (a change
# reruns nothing; rules pass them as resources, named here) and out of the resume fingerprints.
SPEED_ONLY = {
    "pretrain": {"num_workers": "num_workers", "save_every": "save_every"},
    "finetune": {"num_workers": "num_workers", "save_every": "save_every"},
    "evaluate": {"batch_size": "eval_batch_size", "fusion_batch_size": "fusion_batch_size"},
}
_STAGES = {"pretrain": PretrainConfig, "finetune": FinetuneConfig, "evaluate": EvalConfig}


def result_settings(stage: str, settings: dict) -> dict:
    """A stage's config section without its speed-only settings."""
    return {k: v for k, v in settings.items() if k not in SPEED_ONLY[stage]}


def speed_resources(stage: str, settings: dict) -> dict:
    """Resource name -> value of a stage's speed-only settings (the dataclass default where not set)."""
    default = _STAGES[stage]()
    return {name: settings.get(key, getattr(default, key)) for key, name in SPEED_ONLY[stage].items()}


def with_speed(stage: str, settings: dict, resources) -> dict:
    """A stage's settings with its speed-only ones put back from a job's resources (where it has them)."""
    names = SPEED_ONLY[stage]
    return {**settings, **{key: getattr(resources, n) for key, n in names.items() if hasattr(resources, n)}}


def result_fingerprint_fields(stage: str, cfg) -> dict:
    """A stage config as a dict without its speed-only settings: what a resumable state must match."""
    return result_settings(stage, asdict(cfg))
