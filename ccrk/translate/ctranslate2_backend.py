"""CTranslate2 on a model converted from the same M2M-100 directory (greedy or beam; int8/float16/float32)."""

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


class CTranslate2Translator(M2MTranslator):
    name = "ctranslate2"

    def __init__(
        self, model_dir, *, converted_dir=None, compute_type: str = "default", threads: int = 1, **kwargs
    ):
        super().__init__(model_dir, **kwargs)
        import ctranslate2

        if converted_dir is None or not Path(converted_dir, "model.bin").is_file():
            if converted_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="ccrk-ct2-")
                converted_dir = Path(self._tmp.name) / "model"
            convert_to_ctranslate2(model_dir, converted_dir)
        self.converted_dir, self.compute_type = str(converted_dir), compute_type
        self.translator = ctranslate2.Translator(
            self.converted_dir, device=self.device, compute_type=compute_type, intra_threads=threads
        )

    @property
    def settings(self) -> dict:
        return {**super().settings, "compute_type": self.compute_type}

    def _translate(self, texts, source_lang, target_lang):
        tok = self.tokens.tokenizer
        sources = [tok.convert_ids_to_tokens(ids) for ids in self.tokens.source_ids(texts, source_lang)]
        # the prefix counts towards max_decoding_length, like the forced token towards max_new_tokens
        results = self.translator.translate_batch(
            sources,
            target_prefix=[[language_token(target_lang)]] * len(texts),
            beam_size=self.beam_size,
            max_batch_size=self.batch_size,
            max_decoding_length=self.max_output_tokens,
        )
        return [self.tokens.decode(tok.convert_tokens_to_ids(r.hypotheses[0])) for r in results]
