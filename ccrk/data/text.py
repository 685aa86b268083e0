"""Caption normalisation, a line-for-line port of CCLM's `pre_caption` (docs/method.md#caption-cleaning)."""

from __future__ import annotations

import re

_PUNCT = re.compile(r"([,.'!?\"()*#:;~])")
# parity with CCLM: only runs of 2+ whitespace chars collapse, so a lone "\n", "\t" or NBSP inside a caption
# survives (and str.strip(" ") below does not remove a lone NBSP either)
_MULTI_WS = re.compile(r"\s{2,}")


def blank_caption(caption: str) -> bool:
    """No query is left: empty after strip(), or only the punctuation that `pre_caption` blanks out (".", "...").

    Readers drop such captions as they drop empty ones, so every model ranks the same queries and
    `pre_caption` never meets one.
    """
    cleaned = _PUNCT.sub(" ", caption.lower()).replace("-", " ").replace("/", " ")
    return not cleaned.strip()


BLANK = "empty caption {!r} after strip() and punctuation removal"  # the reason readers report


def pre_caption(caption: str, max_words: int) -> str:
    """Lowercase, blank out punctuation, collapse whitespace, strip, and keep the first `max_words` words.

    Raises ValueError when nothing is left (e.g. "" or "..."), as the original does.
    """
    raw = caption
    caption = (
        _PUNCT.sub(" ", caption.lower()).replace("-", " ").replace("/", " ").replace("<person>", "person")
    )
    caption = _MULTI_WS.sub(" ", caption)
    caption = caption.rstrip("\n")
    caption = caption.strip(" ")
    words = caption.split(" ")
    # splitting on " " (not str.split()) keeps CCLM's word count, which matters only for space-separated text
    if len(words) > max_words:
        caption = " ".join(words[:max_words])
    if not len(caption):
        raise ValueError(f"pre_caption yields invalid (empty) text from {raw!r}")
    return caption
