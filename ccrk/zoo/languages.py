"""FLORES-200 codes of the test languages, for text towers that need the source language (NLLB-CLIP/SigLIP).

Chinese is Simplified (`zho_Hans`: xFlickr&CO, COCO-CN and XM3600 are), Norwegian Bokmål (`nob_Latn`) and
Cusco Quechua's nearest FLORES language, Ayacucho Quechua (`quy_Latn`). CLIP_benchmark's NLLB map uses
`zho_Hant` and `nno_Latn` for the first two; a model's `language_codes` overrides any entry.
"""

FLORES_200 = {
    "ar": "arb_Arab",
    "bg": "bul_Cyrl",
    "bn": "ben_Beng",
    "cs": "ces_Latn",
    "da": "dan_Latn",
    "de": "deu_Latn",
    "el": "ell_Grek",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "et": "est_Latn",
    "fa": "pes_Arab",
    "fi": "fin_Latn",
    "fil": "tgl_Latn",
    "fr": "fra_Latn",
    "he": "heb_Hebr",
    "hi": "hin_Deva",
    "hr": "hrv_Latn",
    "hu": "hun_Latn",
    "id": "ind_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "ko": "kor_Hang",
    "mi": "mri_Latn",
    "nl": "nld_Latn",
    "no": "nob_Latn",
    "pl": "pol_Latn",
    "pt": "por_Latn",
    "quz": "quy_Latn",
    "ro": "ron_Latn",
    "ru": "rus_Cyrl",
    "sv": "swe_Latn",
    "sw": "swh_Latn",
    "te": "tel_Telu",
    "th": "tha_Thai",
    "tr": "tur_Latn",
    "uk": "ukr_Cyrl",
    "vi": "vie_Latn",
    "zh": "zho_Hans",
}


def flores_code(lang: str, overrides: dict | None = None) -> str:
    codes = {**FLORES_200, **(overrides or {})}
    if lang not in codes:
        raise ValueError(f"no FLORES-200 code for language {lang!r}; add it to the model's language_codes")
    return codes[lang]
