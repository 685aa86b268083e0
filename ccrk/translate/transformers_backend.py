"""Plain transformers `generate` on an M2M-100 directory: the reference the faster backends are checked against."""

from ccrk.translate.m2m import M2MTranslator


class TransformersTranslator(M2MTranslator):
    name = "transformers"

    def __init__(self, model_dir, **kwargs):
        super().__init__(model_dir, **kwargs)
        import torch
        from transformers import AutoModelForSeq2SeqLM

        self.torch = torch
        self.model = (
            AutoModelForSeq2SeqLM.from_pretrained(self.model_dir, local_files_only=True)
            .eval()
            .to(self.device)
        )

    def _translate(self, texts, source_lang, target_lang):
        out = []
        for i in range(0, len(texts), self.batch_size):
            out += self._decode(
                self._generate(self._encode(texts[i : i + self.batch_size], source_lang), target_lang)
            )
        return out

    def _encode(self, texts, source_lang):
        tok = self.tokens.tokenizer
        tok.src_lang = source_lang
        return tok(texts, padding=True, return_tensors="pt").to(self.device)

    def _generate(self, batch, target_lang):
        with self.torch.inference_mode():
            ids = self.model.generate(
                **batch,
                forced_bos_token_id=self.tokens.target_id(target_lang),
                num_beams=self.beam_size,
                do_sample=False,
                max_new_tokens=self.max_output_tokens,
            )
        return ids.tolist()

    def _decode(self, rows):
        return [self.tokens.decode(row) for row in rows]
