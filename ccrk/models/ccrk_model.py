"""The CCRK model (docs/method.md#model): Swin + XLM-R text layers + fusion layers, contrastive/ITM/MLM heads."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import XLMRobertaConfig, XLMRobertaModel

from ccrk import losses
from ccrk.distributed import all_gather_with_grad
from ccrk.models.config import CCRKConfig
from ccrk.models.fusion import FusionEncoder
from ccrk.models.vision import VisionEncoder


class MLMHead(nn.Module):
    """BERT's prediction head; the decoder is tied to the word embeddings (docs/method.md#text-and-fusion-encoder)."""

    def __init__(self, hidden: int, vocab_size: int, eps: float, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.word_embeddings = [word_embeddings]  # a list, so the tied weight is not registered twice

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.LayerNorm(F.gelu(self.dense(hidden)))
        return x @ self.word_embeddings[0].weight.t() + self.bias


@dataclass
class TextStates:
    hidden: torch.Tensor  # [N, L, H] output of the text-only layers (input of the fusion layers)
    mask: torch.Tensor  # [N, L] attention mask
    feat: torch.Tensor  # [N, embed_dim] L2-normalised contrastive feature


@dataclass
class ImageStates:
    tokens: torch.Tensor  # [N, 1 + patches, vision width]
    feat: torch.Tensor  # [N, embed_dim] L2-normalised contrastive feature


ITM_BUCKET_ROWS = 8  # fewest ITM pairs per length bucket: smaller buckets cost more in overhead than padding
MLM_BUCKET_ROWS = 8  # fewest masked texts per length bucket


def take_rows(t: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """t[rows] along dim 0, with a gradient that sums repeated rows in the same order on every run.

    Advanced indexing's backward (index_put_ with accumulate) adds with atomics on CPU when torch has more
    than one thread, so two runs of one seed drew different models; index_select's (index_add_) does not.
    """
    return t.index_select(0, rows)


def length_buckets(mask: torch.Tensor, min_rows: int, max_buckets: int = 4) -> list[tuple[torch.Tensor, int]]:
    """Rows [N, L] of a padding mask split by length into at most `max_buckets` groups of >= `min_rows`.

    Returns (row indices, width) per group, the width being the group's longest row: padding is masked, so
    running each group trimmed to its width gives the real tokens the same states as one padded block.
    """
    lengths = mask.sum(dim=1)
    n = max(1, min(max_buckets, mask.shape[0] // max(1, min_rows)))
    return [(rows, int(lengths[rows].max())) for rows in lengths.argsort().chunk(n)]


class CCRKModel(nn.Module):
    # training speed switches, same losses either way (bench/train_step.py measures both)
    # lean_fusion: ITM pairs share per-image keys/values and per-text first fusion layers; ITM and MLM run in
    # length buckets. Off: measured slower (bench/README.md: 0.90x on CPU, +0.5 s per step on a GPU)
    lean_fusion = False

    def __init__(self, cfg: CCRKConfig):
        super().__init__()
        self.cfg = cfg
        t = cfg.text
        self.vision_encoder = VisionEncoder(cfg.vision)
        xcfg = XLMRobertaConfig(
            vocab_size=t.vocab_size,
            hidden_size=t.hidden_size,
            num_hidden_layers=t.num_text_layers,
            num_attention_heads=t.num_attention_heads,
            intermediate_size=t.intermediate_size,
            max_position_embeddings=t.max_position_embeddings,
            type_vocab_size=1,
            layer_norm_eps=t.layer_norm_eps,
            hidden_dropout_prob=t.dropout,
            attention_probs_dropout_prob=t.dropout,
            pad_token_id=t.pad_token_id,
            initializer_range=t.initializer_range,
            attn_implementation="sdpa" if torch.cuda.is_available() else "eager",  # eager is faster on CPU
        )
        self.text_encoder = XLMRobertaModel(xcfg, add_pooling_layer=False)
        # BertEmbeddings of the original has no padding row among the positions: with ids from 0, HF's
        # padding_idx=1 would freeze the embedding of every caption's second token
        self.text_encoder.embeddings.position_embeddings.padding_idx = None
        self.fusion_encoder = FusionEncoder(
            t.num_fusion_layers,
            t.hidden_size,
            t.num_attention_heads,
            t.intermediate_size,
            cfg.vision.width,
            t.layer_norm_eps,
            t.dropout,
        )
        self.fusion_encoder.apply(self.text_encoder._init_weights)  # BERT init: N(0, 0.02), LayerNorm 1/0
        self.vision_proj = nn.Linear(cfg.vision.width, cfg.embed_dim)
        self.text_proj = nn.Linear(t.hidden_size, cfg.embed_dim)
        self.temp = nn.Parameter(torch.tensor(cfg.temp))
        self.itm_head = nn.Sequential(
            nn.Linear(t.hidden_size, 2 * t.hidden_size),
            nn.LayerNorm(2 * t.hidden_size),
            nn.GELU(),
            nn.Linear(2 * t.hidden_size, 2),
        )
        self.mlm_head = MLMHead(
            t.hidden_size, t.vocab_size, t.layer_norm_eps, self.text_encoder.embeddings.word_embeddings
        )

    # -- encoders ---------------------------------------------------------------------------
    def encode_image(self, images: torch.Tensor) -> ImageStates:
        tokens = self.vision_encoder(images)
        return ImageStates(tokens, F.normalize(self.vision_proj(tokens[:, 0]), dim=-1))

    def _text_layers(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # position ids start at 0 as in the original BertEmbeddings, not at padding_idx + 1
        # (docs/method.md#text-and-fusion-encoder)
        pos = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        return self.text_encoder(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=pos
        ).last_hidden_state

    def text_hidden(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, buckets: int = 4
    ) -> torch.Tensor:
        """Text-layer states [N, L, H]; long batches run in length buckets, each padded only to its own max.

        K captions in ten languages differ a lot in length (zh by character, ru by word): one padded
        block wastes most of the compute. Padding is masked, so the states of real tokens do not change.
        """
        if input_ids.shape[0] < 16 * buckets:
            return self._text_layers(input_ids, attention_mask)
        lengths = attention_mask.sum(dim=1)
        out = None
        for rows in lengths.argsort().chunk(buckets):
            width = int(lengths[rows].max())
            h = self._text_layers(input_ids[rows, :width], attention_mask[rows, :width])
            if out is None:
                out = h.new_zeros(input_ids.shape[0], input_ids.shape[1], h.shape[-1])
            out[rows, :width] = h
        return out

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextStates:
        hidden = self.text_hidden(input_ids, attention_mask)
        return TextStates(hidden, attention_mask, F.normalize(self.text_proj(hidden[:, 0]), dim=-1))

    def fuse(self, text_hidden, text_mask, image_tokens) -> torch.Tensor:
        return self.fusion_encoder(text_hidden, text_mask, image_tokens)

    def itm_logits(self, text_hidden, text_mask, image_tokens, image_kv=None, prefix=None) -> torch.Tensor:
        """Match / no-match logits [N, 2] of aligned (text, image) pairs, from the fused token 0.

        image_kv / prefix: the parts that depend on the image / the text alone, computed beforehand
        (`FusionEncoder.image_kv`, `FusionEncoder.text_prefix` with first_only=True), rows indexed to the
        pairs; image_tokens / text_hidden may then be None.
        """
        width = int(text_mask.sum(dim=1).max())  # drop the columns that are padding in every row

        def trim(t):  # text states [N, L, H] and query heads [N, h, L, d]
            return t[..., :width, :]

        text_hidden = None if text_hidden is None else trim(text_hidden)
        prefix = None if prefix is None else (trim(prefix[0]), trim(prefix[1]))
        # the last fusion layer computes token 0 only: the same logits for less work
        fused = self.fusion_encoder(
            text_hidden, text_mask[:, :width], image_tokens, first_only=True, image_kv=image_kv, prefix=prefix
        )
        return self.itm_head(fused[:, 0])

    def sampled_itm_logits(self, image_tokens, text_hidden, text_mask, img_idx, txt_idx) -> torch.Tensor:
        """ITM logits [P, 2] of the pairs (image img_idx[p], text txt_idx[p]) drawn from one batch.

        The same logits as `itm_logits` on the gathered pairs, for less work: each distinct image's
        cross-attention keys/values and each distinct text's first fusion layer are computed once (the ITM
        batch holds every positive text twice and every image up to three times), and the pairs run in
        length buckets, each padded only to its own longest text.
        """
        images, img_of = torch.unique(img_idx, return_inverse=True)
        texts, txt_of = torch.unique(txt_idx, return_inverse=True)
        mask = text_mask[texts]
        width = int(mask.sum(dim=1).max())
        kv = self.fusion_encoder.image_kv(take_rows(image_tokens, images))
        prefix = self.fusion_encoder.text_prefix(
            take_rows(text_hidden, texts)[:, :width], mask[:, :width], first_only=True
        )
        out, order = [], []
        for rows, w in length_buckets(mask[txt_of], min_rows=ITM_BUCKET_ROWS):
            t, i = txt_of[rows], img_of[rows]
            fused = self.fusion_encoder(
                None,
                mask[t, :w],
                None,
                first_only=True,
                image_kv=[(take_rows(k, i), take_rows(v, i)) for k, v in kv],
                prefix=(take_rows(prefix[0], t)[:, :w], take_rows(prefix[1], t)[:, :, :w]),
            )
            out.append(self.itm_head(fused[:, 0]))
            order.append(rows)
        logits = torch.cat(out)
        return logits[torch.cat(order).argsort()]  # back to the pair order

    # -- objectives -------------------------------------------------------------------------
    def _itm_from_samples(self, img: ImageStates, txt: TextStates, img_idx, txt_idx) -> torch.Tensor:
        if self.lean_fusion:
            logits = self.sampled_itm_logits(img.tokens, txt.hidden, txt.mask, img_idx, txt_idx)
        else:
            logits = self.itm_logits(
                take_rows(txt.hidden, txt_idx), txt.mask[txt_idx], take_rows(img.tokens, img_idx)
            )
        return losses.itm_loss(logits, n_pos=img_idx.shape[0] // 3)

    def forward_pretrain(
        self,
        images,
        input_ids,
        attention_mask,
        masked_ids,
        masked_pos,
        masked_labels,
        k: int,
        sample_type: int = 1,
        divisor: float | None = None,
        hard_negatives: bool | float = True,
        skip_same_text: bool = False,
    ) -> dict[str, torch.Tensor]:
        """CCRK step: 1-to-K contrastive + ITM with hard positives + MLM on the sampled text.

        Objective: docs/method.md#pretraining-objective.

        Texts are image-major [B*K, L]: row b*K + k is image b in language k.
        """
        with torch.no_grad():
            self.temp.clamp_(self.cfg.temp_min, self.cfg.temp_max)
        img = self.encode_image(images)
        txt = self.encode_text(input_ids, attention_mask)
        loss_itc = losses.one_to_k_contrastive_loss(
            all_gather_with_grad(img.feat), all_gather_with_grad(txt.feat), self.temp, k, divisor
        )
        b = images.shape[0]
        sim_i2t = img.feat.detach() @ txt.feat.detach().t() / self.temp.detach()  # local [B, B*K]
        exclude = losses.same_text_pairs(input_ids, k) if skip_same_text else None
        pos, neg_img, neg_txt = losses.one_to_k_hard_samples(
            sim_i2t, k, sample_type, hard_negatives=hard_negatives, exclude=exclude
        )
        own = torch.arange(b, device=images.device)
        loss_itm = self._itm_from_samples(
            img, txt, torch.cat([own, neg_img, own]), torch.cat([pos, pos, neg_txt])
        )
        loss_mlm = self.mlm_loss(
            img.tokens, masked_ids[pos], attention_mask[pos], masked_pos[pos], masked_labels[pos]
        )
        return {"itc": loss_itc, "itm": loss_itm, "mlm": loss_mlm}

    def mlm_loss(self, image_tokens, masked_ids, attention_mask, masked_pos, masked_labels) -> torch.Tensor:
        groups = (
            length_buckets(attention_mask, min_rows=MLM_BUCKET_ROWS)
            if self.lean_fusion
            else [(torch.arange(masked_ids.shape[0], device=masked_ids.device), None)]
        )
        picked, order = [], []
        for rows, width in groups:
            # masked positions all lie inside the real tokens, so each group is cut to its longest text
            width = width or int(attention_mask.sum(dim=1).max())
            ids, mask = masked_ids[rows, :width], attention_mask[rows, :width]
            hidden = self.fuse(self.text_hidden(ids, mask), mask, take_rows(image_tokens, rows))
            pos = masked_pos[rows].unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
            picked.append(hidden.gather(1, pos))  # [rows, M, H]
            order.append(rows)
        picked = torch.cat(picked)[torch.cat(order).argsort()]
        return losses.mlm_loss(self.mlm_head(picked), masked_labels)

    def forward_finetune(
        self,
        images,
        input_ids,
        attention_mask,
        idx,
        hard_negatives: bool | float = True,
        skip_same_text: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Retrieval fine-tuning: ITC with same-image positives + ITM with hard negatives.

        Objective: docs/method.md#fine-tuning-objective.

        hard_negatives=False draws the ITM negatives uniformly among the pairs of other images; a number in
        (0, 1) draws them between uniform and hard (`losses.negative_sims`). skip_same_text: a caption identical
        to an image's own is no negative of it (`losses.same_text_pairs`).
        """
        img = self.encode_image(images)
        txt = self.encode_text(input_ids, attention_mask)
        idx_all = all_gather_with_grad(idx)
        loss_itc = losses.image_text_contrastive_loss(
            all_gather_with_grad(img.feat), all_gather_with_grad(txt.feat), self.temp, idx_all
        )
        sim = img.feat.detach() @ txt.feat.detach().t() / self.temp.detach()  # local [B, B]
        same = idx.view(-1, 1) == idx.view(1, -1)
        if skip_same_text:
            same = same | losses.same_text_pairs(input_ids)
        sim = losses.negative_sims(sim, hard_negatives)
        neg_txt, neg_img = losses.hard_negative_indices(sim, sim.t(), same)
        own = torch.arange(images.shape[0], device=images.device)
        loss_itm = self._itm_from_samples(
            img, txt, torch.cat([own, neg_img, own]), torch.cat([own, own, neg_txt])
        )
        return {"itc": loss_itc, "itm": loss_itm}

    def newly_initialised_parameters(self) -> set[str]:
        """Names that get lr x lr_mult in pretraining: what the XLM-R / Swin checkpoints do not provide."""
        prefixes = ("vision_proj.", "text_proj.", "itm_head.", "temp")
        return {n for n, _ in self.named_parameters() if n.startswith(prefixes) or ".crossattention." in n}
