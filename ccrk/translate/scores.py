"""chrF and BLEU (sacrebleu) of translations against reference captions, per language, as flat dicts."""

from ccrk.errors import DataError
from ccrk.io import iter_jsonl

BLEU_TOKENIZE = {"zh": "zh", "ja": "char", "th": "char"}  # unspaced scripts; everything else: sacrebleu's 13a


def read_references(path, languages: list[str]) -> dict[int, dict[str, str]]:
    """line -> {lang: reference} from a corpus-format file (`{"caption": {lang: text}}`, line-aligned)."""
    refs = {}
    for line, obj in iter_jsonl(path):
        caption = obj.get("caption")
        if not isinstance(caption, dict):
            raise DataError(path, line, "caption", "expected a {language: text} object")
        refs[line] = {lang: caption[lang].strip() for lang in languages if isinstance(caption.get(lang), str)}
    return refs


def translation_scores(pairs: dict[str, list[tuple[str, str]]]) -> dict[str, float | int]:
    """{lang: [(hypothesis, reference), ...]} -> {"<lang>_chrf", "<lang>_bleu", "<lang>_n"}; empty pairs skipped."""
    from sacrebleu.metrics import BLEU, CHRF

    scores = {}
    for lang, items in pairs.items():
        items = [(h, r) for h, r in items if h.strip() and r.strip()]
        scores[f"{lang}_n"] = len(items)
        if not items:
            continue
        hyps, refs = [h for h, _ in items], [[r for _, r in items]]
        scores[f"{lang}_chrf"] = round(CHRF().corpus_score(hyps, refs).score, 2)
        scores[f"{lang}_bleu"] = round(
            BLEU(tokenize=BLEU_TOKENIZE.get(lang, "13a")).corpus_score(hyps, refs).score, 2
        )
    return scores


def scores_against_references(
    translations: dict[int, dict[str, str]], references: dict[int, dict[str, str]], languages: list[str]
) -> dict[str, float | int]:
    """Score line-keyed translations against line-keyed references, on the lines both have."""
    pairs = {
        lang: [
            (tr[lang], references[line][lang])
            for line, tr in translations.items()
            if lang in tr and lang in references.get(line, {})
        ]
        for lang in languages
    }
    return translation_scores(pairs)
