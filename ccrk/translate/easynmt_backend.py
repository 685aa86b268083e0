"""EasyNMT with m2m_100 (the paper's translator, SPEC §3.6), loaded from a local directory or by name."""


class EasyNMTTranslator:
    name = "easynmt"

    def __init__(self, model: str, batch_size: int = 16, device: str | None = None):
        try:
            from easynmt import EasyNMT
        except ImportError as e:
            raise ImportError(
                "the 'easynmt' translation backend needs EasyNMT: pip install --no-deps easynmt==2.0.2 "
                "(its declared transformers<5 pin is not needed; see README, Translation)") from e
        self.batch_size = batch_size
        self.model = EasyNMT(model, device=device)

    def translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        # always name the source and never split sentences: both would need downloads (a language
        # detector, nltk punkt) that an offline cluster node cannot make
        return self.model.translate(texts, source_lang=source_lang, target_lang=target_lang,
                                    batch_size=self.batch_size, perform_sentence_splitting=False,
                                    show_progress_bar=False)
