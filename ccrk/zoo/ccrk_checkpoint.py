"""Kind `ccrk`: our checkpoints and the released CCRK/CCLM ones, ranked by ITC and re-ranked by ITM."""

from __future__ import annotations

from ccrk.config import EvalConfig, from_dict
from ccrk.data.text import pre_caption
from ccrk.data.transforms import eval_transform
from ccrk.retrieval import Features, RetrievalResult, rank_features
from ccrk.zoo.base import dual_encoder_ranks
from ccrk.zoo.spec import CCRKSpec, RunSettings


class CCRKEncoder:
    def __init__(
        self, spec: CCRKSpec, settings: RunSettings, tokenizer_dir: str, evaluate: dict | None = None
    ):
        from ccrk.models import load_model
        from ccrk.tokenizer import load_tokenizer

        if not spec.checkpoint:
            raise ValueError(f"zeroshot.models[{spec.name}]: kind ccrk needs a checkpoint")
        self.spec, self.device = spec, settings.device
        self.cfg = from_dict(
            EvalConfig, {**(evaluate or {}), **spec.evaluate}, f"zeroshot.models[{spec.name}]"
        )
        self.model = load_model(spec.checkpoint, spec.image_res, spec.window_size).to(settings.device).eval()
        self.tokenizer_dir = spec.tokenizer or tokenizer_dir
        self.tokenizer = load_tokenizer(self.tokenizer_dir)
        self.image_transform = eval_transform(self.model.cfg.vision.image_res)

    def encode_image_batch(self, pixels) -> Features:
        out = self.model.encode_image(pixels)
        return Features(out.tokens, None, out.feat)

    def _prepare(self, texts: list[str]) -> list[str]:
        return [pre_caption(t, self.cfg.max_words) for t in texts]  # CCRK/CCLM were trained on it

    def text_lengths(self, texts: list[str], lang: str) -> list[int]:
        return [len(t) for t in texts]  # characters: a sort key as good as tokens, without tokenizing twice

    def encode_text_batch(self, texts: list[str], lang: str) -> Features:
        enc = self.tokenizer(
            self._prepare(texts),
            padding="longest",
            truncation=True,
            max_length=self.cfg.max_tokens,
            return_tensors="pt",
        ).to(self.device)
        out = self.model.encode_text(enc["input_ids"], enc["attention_mask"])
        return Features(out.hidden, out.mask, out.feat)

    def rank(self, images: Features, texts: Features, txt2img, img2txt) -> RetrievalResult:
        if not self.spec.rerank:
            return dual_encoder_ranks(images, texts, txt2img, img2txt)
        return rank_features(
            self.model, images, texts, txt2img, img2txt, self.cfg.k_test, self.cfg.fusion_batch_size
        )

    def scorings(self) -> list[str]:
        """itc+itm (the headline ranks) and the same model's ITC-only ranking, or ITC alone."""
        return ["itc+itm", "itc"] if self.spec.rerank else ["itc"]

    def info(self) -> dict:
        return {
            "library": "ccrk",
            "checkpoint": self.spec.checkpoint,
            "tokenizer": f"AutoTokenizer.from_pretrained({self.tokenizer_dir!r}), max {self.cfg.max_tokens} tokens",
            "text_normalise": f"pre_caption (CCLM), max {self.cfg.max_words} words",
            "image_transform": repr(self.image_transform),
            "scoring": " and ".join(self.scorings()),
            "k_test": self.cfg.k_test if self.spec.rerank else None,
        }
