"""Model configuration: Swin image encoder, XLM-R text layers, fusion layers, heads."""

from dataclasses import asdict, dataclass, field, replace


@dataclass
class VisionConfig:
    image_res: int = 224  # input side in pixels (384 for fine-tuning at paper scale)
    patch_size: int = 4  # Swin patch embedding stride
    embed_dim: int = 128  # width of the first Swin stage (Swin-B: 128)
    depths: tuple[int, ...] = (2, 2, 18, 2)  # blocks per stage (Swin-B)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)  # heads per stage (Swin-B)
    window_size: int = 7  # attention window (12 at 384 px)
    drop_path_rate: float = 0.1  # stochastic depth, linear over the blocks
    absolute_pos_embed: bool = False  # learned position per patch (Microsoft Swin's `ape`); Swin-B has none

    def __post_init__(self):
        # the original's Swin needs every stage to tile into whole windows; timm would pad silently instead
        stride = self.patch_size * 2 ** (len(self.depths) - 1)
        if self.image_res % stride:
            raise ValueError(
                f"model.vision: image_res {self.image_res} is not a multiple of the total stride {stride}"
            )
        for s in range(len(self.depths)):
            side = self.image_res // (self.patch_size * 2**s)
            if side % min(self.window_size, side):
                raise ValueError(
                    f"model.vision: stage {s} is {side}x{side} patches, not a whole number of "
                    f"{self.window_size}x{self.window_size} windows (image_res {self.image_res})"
                )

    @property
    def width(self) -> int:
        """Channels of the last stage, i.e. of every image token handed to the fusion layers."""
        return self.embed_dim * 2 ** (len(self.depths) - 1)


@dataclass
class TextConfig:
    vocab_size: int = 250002  # XLM-R vocabulary
    hidden_size: int = 1024  # XLM-R-large width
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    num_text_layers: int = 6  # layers 0-5: text only
    num_fusion_layers: int = 6  # layers 6-11: self-attention, cross-attention to the image, FFN
    max_position_embeddings: int = 514
    layer_norm_eps: float = 1e-5
    dropout: float = 0.1  # hidden and attention dropout, as BERT/XLM-R
    initializer_range: float = 0.02  # std of newly initialised weights (BERT / XLM-R)
    pad_token_id: int = 1  # XLM-R's <pad>


@dataclass
class InitConfig:
    text: str = ""  # local xlm-roberta-large directory (Hugging Face layout); "" = random init
    vision: str = ""  # local swin_base_patch4_window7_224_22k.pth; "" = random init


@dataclass
class CCRKConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    init: InitConfig = field(
        default_factory=InitConfig
    )  # weights pretraining starts from (read before step 0)
    embed_dim: int = 256  # contrastive feature size
    temp: float = 0.07  # initial contrastive temperature (learnable, logits = sim / temp)
    temp_min: float = 0.001  # pretraining clamps temp in place to [temp_min, temp_max] every forward
    temp_max: float = 0.5

    @classmethod
    def paper(cls, image_res: int = 224) -> "CCRKConfig":
        """CCRK at full size (docs/method.md#model): Swin-B, XLM-R-large's odd layers as 6 text + 6 fusion layers,
        523,565,901 parameters at 224 px; the window is image_res / 32 (224 px: 7, 384 px: 12)."""
        return cls().with_resolution(image_res, image_res // 32)

    def with_resolution(self, image_res: int | None = None, window_size: int | None = None) -> "CCRKConfig":
        """A copy at another image size and/or Swin window (None keeps the current one)."""
        v = self.vision
        vision = replace(v, image_res=image_res or v.image_res, window_size=window_size or v.window_size)
        return replace(self, vision=vision)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CCRKConfig":
        """Build from a nested dict (YAML config or checkpoint); unknown keys are an error."""
        from ccrk.config import from_dict

        return from_dict(cls, d, "model")
