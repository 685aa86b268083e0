"""Backend registry: the config's `translate.backend` name -> a translator instance.

Every translator has `name`, `settings`, `check_languages(src, tgts)`, `clip(text, n)`, `count_tokens(text)`
and `translate(texts, source_lang, target_lang) -> list[str]` (one output per input, in order).
"""

BACKENDS = ("lexicon", "easynmt", "transformers", "ctranslate2")


def build_translator(
    backend: str,
    model: str,
    *,
    batch_size: int = 16,
    beam_size: int = 5,
    max_output_tokens: int = 256,
    compute_type: str = "default",
    device: str = "auto",
    threads: int = 1,
    converted_dir=None,
):
    """`model`: the lexicon TSV for 'lexicon' (demo only), else an M2M-100 directory (or EasyNMT model name)."""
    m2m = {
        "batch_size": batch_size,
        "beam_size": beam_size,
        "max_output_tokens": max_output_tokens,
        "device": device,
    }
    if backend == "lexicon":
        from ccrk.translate.lexicon import LexiconTranslator

        return LexiconTranslator(model)
    if backend == "easynmt":
        from ccrk.translate.easynmt_backend import EasyNMTTranslator

        return EasyNMTTranslator(model, **m2m)
    if backend == "transformers":
        from ccrk.translate.transformers_backend import TransformersTranslator

        return TransformersTranslator(model, **m2m)
    if backend == "ctranslate2":
        from ccrk.translate.ctranslate2_backend import CTranslate2Translator

        return CTranslate2Translator(
            model, converted_dir=converted_dir, compute_type=compute_type, threads=threads, **m2m
        )
    raise ValueError(f"unknown translation backend {backend!r}; expected one of {', '.join(BACKENDS)}")
