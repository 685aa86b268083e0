"""Backend registry: the config's `translate.backend` name -> a translator instance."""


def build_translator(backend: str, model: str, batch_size: int = 16):
    """`model` is the lexicon TSV for 'lexicon' (demo) and the m2m_100 directory or name for 'easynmt'."""
    if backend == "lexicon":
        from ccrk.translate.lexicon import LexiconTranslator

        return LexiconTranslator(model)
    if backend == "easynmt":
        from ccrk.translate.easynmt_backend import EasyNMTTranslator

        return EasyNMTTranslator(model, batch_size=batch_size)
    raise ValueError(f"unknown translation backend {backend!r}; expected 'lexicon' or 'easynmt'")
