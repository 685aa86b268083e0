"""CTranslate2 on a model converted from the same M2M-100 directory (greedy or beam; int8/float16/float32).

Source pieces come from the sentencepiece model in one call per batch and outputs are decoded the same way
(`M2MTokens.source_pieces` / `decode_pieces`): no token ids, no Python tokenizer per sentence.

Beam search is transformers' (EasyNMT's) with `early_stopping=True`: the same 2 x beam candidates, a
hypothesis finished when `</s>` is among the top `beam` ones, the search over once `beam` hypotheses are
finished, the best by log-probability / length ** length_penalty, the length counting the language token,
the words and `</s>` in both (tested on a model whose outputs end at varied lengths). It differs in two
places: with `early_stopping` false (transformers' default where the model's generation_config.json does
not set it) transformers searches on while a running beam could still beat the worst finished one; and on
the first step after the language token CTranslate2 does not let `</s>` end a secondary beam.
"""

import json
import logging
import tempfile
from pathlib import Path

from ccrk.io import atomic_dir
from ccrk.translate.languages import language_token
from ccrk.translate.m2m import TOKENIZER_FILES, M2MTranslator, validate_m2m_dir

log = logging.getLogger("ccrk.translate")


def convert_to_ctranslate2(model_dir, out_dir) -> Path:
    """Convert a validated M2M-100 directory to CTranslate2 (float32 weights; compute type chosen at load)."""
    from ctranslate2.converters import TransformersConverter

    validate_m2m_dir(model_dir)
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        TransformersConverter(str(model_dir), copy_files=list(TOKENIZER_FILES)).convert(str(tmp), force=True)
    log.info("converted %s to CTranslate2 in %s", model_dir, out)
    return out


# generation_config.json settings that change transformers' search and that this backend does not apply
NOT_APPLIED = {
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "forced_eos_token_id": None,
    "min_length": 0,
    "min_new_tokens": None,
    "bad_words_ids": None,
    "num_beam_groups": 1,
}


def generation_options(model_dir, beam_size: int) -> dict:
    """CTranslate2 options from the model's generation_config.json (its length_penalty); warn where transformers
    and EasyNMT would search differently on this model."""
    path = Path(model_dir, "generation_config.json")
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    differs = [k for k, neutral in NOT_APPLIED.items() if config.get(k) not in (neutral, None)]
    if beam_size > 1 and config.get("early_stopping") is not True:
        differs.append(
            f"early_stopping {config.get('early_stopping', False)} (transformers searches on after "
            f"{beam_size} finished hypotheses, CTranslate2 stops)"
        )
    if differs:
        log.warning(
            "%s: %s: CTranslate2's outputs can differ from EasyNMT's (README, Translation at scale)",
            path,
            "; ".join(differs),
        )
    return {"length_penalty": config["length_penalty"]} if config.get("length_penalty") is not None else {}


def thread_layout(device: str, threads: int) -> tuple[int, int]:
    """(inter_threads, intra_threads): on a CPU one single-threaded replica per core (parallel batches, as
    CTranslate2 advises for throughput; bench/translate_speed.py measures it against intra threads); a GPU: one."""
    return (max(1, threads), 1) if device == "cpu" else (1, 1)


class CTranslate2Translator(M2MTranslator):
    name = "ctranslate2"

    def __init__(
        self,
        model_dir,
        *,
        converted_dir=None,
        compute_type: str = "default",
        threads: int = 1,
        batch_type: str = "examples",
        **kwargs,
    ):
        super().__init__(model_dir, **kwargs)
        import ctranslate2

        if converted_dir is None or not Path(converted_dir, "model.bin").is_file():
            if converted_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="ccrk-ct2-")
                converted_dir = Path(self._tmp.name) / "model"
            convert_to_ctranslate2(model_dir, converted_dir)
        self.converted_dir, self.compute_type, self.batch_type = str(converted_dir), compute_type, batch_type
        self.inter_threads, intra_threads = thread_layout(self.device, threads)
        self.options = generation_options(model_dir, self.beam_size)
        self.translator = ctranslate2.Translator(
            self.converted_dir,
            device=self.device,
            compute_type=compute_type,
            inter_threads=self.inter_threads,
            intra_threads=intra_threads,
        )

    @property
    def settings(self) -> dict:
        return {**super().settings, "compute_type": self.compute_type}

    def _translate(self, texts, source_lang, target_lang):
        return self._decode(self._generate(self._encode(texts, source_lang), target_lang))

    def _encode(self, texts, source_lang):
        return self.tokens.source_pieces(texts, source_lang)

    def _generate(self, sources, target_lang):
        # a sub-batch per replica, so that every core has work; the prefix counts towards max_decoding_length
        # as the forced token towards max_new_tokens
        per_replica = -(-len(sources) // self.inter_threads)
        results = self.translator.translate_batch(
            sources,
            target_prefix=[[language_token(target_lang)]] * len(sources),
            beam_size=self.beam_size,
            max_batch_size=min(self.batch_size, per_replica),
            batch_type=self.batch_type,
            max_decoding_length=self.max_output_tokens,
            return_scores=False,
            **self.options,
        )
        return [r.hypotheses[0] for r in results]

    def _decode(self, outputs):
        return self.tokens.decode_pieces(outputs)
