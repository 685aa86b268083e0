"""The 100 M2M-100 languages, mapped explicitly to their `__xx__` tokens; anything else is rejected early."""

from ccrk.errors import CCRKError

# fairseq's M2M-100 language list, in the order of its language-token ids (the tokenizer's lang_code_to_id)
M2M100_LANGUAGES = (
    "af",
    "am",
    "ar",
    "ast",
    "az",
    "ba",
    "be",
    "bg",
    "bn",
    "br",
    "bs",
    "ca",
    "ceb",
    "cs",
    "cy",
    "da",
    "de",
    "el",
    "en",
    "es",
    "et",
    "fa",
    "ff",
    "fi",
    "fr",
    "fy",
    "ga",
    "gd",
    "gl",
    "gu",
    "ha",
    "he",
    "hi",
    "hr",
    "ht",
    "hu",
    "hy",
    "id",
    "ig",
    "ilo",
    "is",
    "it",
    "ja",
    "jv",
    "ka",
    "kk",
    "km",
    "kn",
    "ko",
    "lb",
    "lg",
    "ln",
    "lo",
    "lt",
    "lv",
    "mg",
    "mk",
    "ml",
    "mn",
    "mr",
    "ms",
    "my",
    "ne",
    "nl",
    "no",
    "ns",
    "oc",
    "or",
    "pa",
    "pl",
    "ps",
    "pt",
    "ro",
    "ru",
    "sd",
    "si",
    "sk",
    "sl",
    "so",
    "sq",
    "sr",
    "ss",
    "su",
    "sv",
    "sw",
    "ta",
    "th",
    "tl",
    "tn",
    "tr",
    "uk",
    "ur",
    "uz",
    "vi",
    "wo",
    "xh",
    "yi",
    "yo",
    "zh",
    "zu",
)
M2M100_TOKENS = {code: f"__{code}__" for code in M2M100_LANGUAGES}
assert len(M2M100_TOKENS) == 100


class UnknownLanguageError(CCRKError, ValueError):
    """A language code the translation model has no token for."""


def language_token(code: str) -> str:
    """`es` -> `__es__`; an unknown code raises, naming the code and the accepted ones."""
    try:
        return M2M100_TOKENS[code]
    except (KeyError, TypeError):
        raise UnknownLanguageError(
            f"language {code!r} is not one of the 100 M2M-100 languages (ISO 639-1 codes such as en, id, es, "
            f"ru, tr; full list: {', '.join(M2M100_LANGUAGES)})"
        ) from None


def is_language_token(token: str) -> bool:
    return len(token) > 4 and token.startswith("__") and token.endswith("__") and token[2:-2] in M2M100_TOKENS
