"""EasyNMT with m2m_100 (the paper's translator), on a local M2M-100 directory or by name online.

See docs/method.md#translation."""

from pathlib import Path

from ccrk.translate.m2m import M2MTranslator, resolve_device, validate_m2m_dir

INSTALL_HINT = (
    "the 'easynmt' translation backend needs EasyNMT: pip install --no-deps easynmt==2.0.2 "
    "(its declared transformers<5 and fasttext pins are not needed; see README, Translation)"
)


def _easynmt():
    try:
        from easynmt import EasyNMT
        from easynmt.models import AutoModel
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    return EasyNMT, AutoModel


class EasyNMTTranslator(M2MTranslator):
    name = "easynmt"

    def __init__(self, model: str, *, device: str = "auto", **kwargs):
        EasyNMT, AutoModel = _easynmt()
        device = resolve_device(device)
        if Path(
            model
        ).is_dir():  # a local facebook/m2m100_1.2B directory: validated, then loaded without a hub
            tokenizer = validate_m2m_dir(model)
            engine = EasyNMT(
                translator=AutoModel(model_name=str(model), tokenizer_args={"local_files_only": True}),
                device=device,
            )
        else:  # an EasyNMT model name such as m2m_100_1.2B: EasyNMT downloads it (needs the network)
            engine = EasyNMT(model, device=device)
            tokenizer = engine.translator.tokenizer
        super().__init__(model, device=device, tokenizer=tokenizer, **kwargs)
        self.model = engine

    def _translate(self, texts, source_lang, target_lang):
        # always name the source and never split sentences: both would need downloads (a language
        # detector, nltk punkt) that an offline cluster node cannot make
        out = self.model.translate(
            texts,
            source_lang=source_lang,
            target_lang=target_lang,
            batch_size=self.batch_size,
            beam_size=self.beam_size,
            perform_sentence_splitting=False,
            show_progress_bar=False,
            do_sample=False,
            max_new_tokens=self.max_output_tokens,
        )
        return [t.strip() for t in out]
