"""DEMO ONLY: a phrase-table translator over the synthetic dataset's vocabulary.

Greedy longest-match replacement of English phrases by the target language's phrases. It keeps
English word order, so its output is rough, like machine translation; it exists so that the demo
runs the translation stage offline in a second. Real data uses EasyNMT / m2m_100.
"""

import csv

from ccrk.errors import DataError


class LexiconTranslator:
    name = "lexicon"

    def __init__(self, lexicon_path):
        self.path = str(lexicon_path)
        with open(lexicon_path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if not rows or "en" not in rows[0]:
            raise DataError(lexicon_path, 1, "en", "expected a TSV header with an 'en' column")
        self.languages = [c for c in rows[0] if c != "en"]
        self.table = {lang: {tuple(r["en"].split()): r[lang] for r in rows} for lang in self.languages}
        self.max_len = max(len(r["en"].split()) for r in rows)
        self.unknown_words = 0  # words passed through untranslated, for the shard report

    @property
    def settings(self) -> dict:
        return {"backend": self.name, "model": self.path}

    def check_languages(self, source_lang: str, target_langs: list[str]) -> None:
        if source_lang != "en":
            raise ValueError(f"the demo lexicon translates from 'en' only, not {source_lang!r}")
        for lang in target_langs:
            if lang not in self.table:
                raise ValueError(
                    f"{self.path}: no column for target language {lang!r} (has {self.languages})"
                )

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def clip(self, text: str, max_tokens: int) -> tuple[str, bool]:
        words = text.split()
        return (text, False) if len(words) <= max_tokens else (" ".join(words[:max_tokens]), True)

    def translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        self.check_languages(source_lang, [target_lang])
        return [self._one(t, self.table[target_lang]) for t in texts]

    def _one(self, text: str, table: dict) -> str:
        words, out, i = text.lower().split(), [], 0
        while i < len(words):
            for n in range(min(self.max_len, len(words) - i), 0, -1):
                phrase = table.get(tuple(words[i : i + n]))
                if phrase is not None:
                    out.append(phrase)
                    i += n
                    break
            else:
                out.append(words[i])
                self.unknown_words += 1
                i += 1
        return " ".join(p for p in out if p)
