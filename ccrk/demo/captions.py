"""Captions of a scene in any demo language, and the English->{id,es,ru,tr} phrase table of the demo."""

import random
from dataclasses import dataclass

from ccrk.demo.scenes import Scene, SceneObject
from ccrk.demo.vocabulary import LEXICON_EXTRA, LEXICON_LANGUAGES, VOCAB, LanguageVocab, inflect

P_DROP_POSITION = 0.3  # chance that one object of the caption loses its position phrase
P_DROP_SIZE = 0.25  # chance, per object, that the caption leaves out its size
N_TEMPLATES = 3

assert all(len(v.templates) == N_TEMPLATES for v in VOCAB.values()), "template k means the same everywhere"


def _noun_phrase(vocab: LanguageVocab, obj: SceneObject, with_size: bool, case: str) -> str:
    gender = vocab.genders[obj.shape] if vocab.genders else None
    words = {
        "article": inflect(vocab.article, gender, case),
        "size": inflect(vocab.sizes[obj.size], gender, case) if with_size else "",
        "colour": inflect(vocab.colours[obj.colour], gender, case),
        "shape": vocab.shapes[obj.shape],
    }
    return (" " if vocab.spaced else "").join(words[slot] for slot in vocab.np_order if words[slot])


def _clause(vocab: LanguageVocab, obj: SceneObject, with_size: bool, with_position: bool, case: str) -> str:
    np = _noun_phrase(vocab, obj, with_size, case)
    if with_position:
        return vocab.clause[0].format(np=np, pos=vocab.cells[obj.cell])
    return vocab.clause[1].format(np=np)


def _join(vocab: LanguageVocab, clauses: list[str]) -> str:
    sep, last_sep = vocab.join
    return clauses[0] if len(clauses) == 1 else sep.join(clauses[:-1]) + last_sep + clauses[-1]


@dataclass(frozen=True)
class CaptionPlan:
    """What one caption says: the objects in caption order, which of them keep their size and position, the template."""

    objects: tuple[SceneObject, ...]
    with_size: tuple[bool, ...]
    with_position: tuple[bool, ...]
    template: int


def caption_plan(scene: Scene, rng: random.Random) -> CaptionPlan:
    """The draws behind a caption of `scene`, in the order `describe` makes them (its words aside)."""
    if not scene.objects:
        raise ValueError("cannot describe an empty scene")
    objects = list(scene.objects)
    rng.shuffle(objects)
    drop_position = rng.randrange(len(objects)) if rng.random() < P_DROP_POSITION else -1
    with_size = tuple(rng.random() >= P_DROP_SIZE for _ in objects)
    template = rng.randrange(N_TEMPLATES)
    with_position = tuple(i != drop_position for i in range(len(objects)))
    return CaptionPlan(tuple(objects), with_size, with_position, template)


def caption_text(plan: CaptionPlan, lang: str, variant: int | None = None) -> str:
    """The caption `plan` stands for, in `lang` (with template `variant`, 0-2, in place of the plan's)."""
    if lang not in VOCAB:
        raise ValueError(f"unknown demo language {lang!r}; expected one of {sorted(VOCAB)}")
    if variant is not None and not 0 <= variant < N_TEMPLATES:
        raise ValueError(f"variant must be in 0..{N_TEMPLATES - 1}, got {variant}")
    vocab = VOCAB[lang]
    case, fmt = vocab.templates[plan.template if variant is None else variant]
    clauses = [
        _clause(vocab, obj, size, position, case)
        for obj, size, position in zip(plan.objects, plan.with_size, plan.with_position, strict=True)
    ]
    return fmt.format(objects=_join(vocab, clauses))


def describe(scene: Scene, lang: str, rng: random.Random, variant: int | None = None) -> str:
    """One caption of `scene` in `lang`; rng picks object order, omissions and template (or `variant`, 0-2).

    The rng is consumed alike in every language: equal rng states give parallel captions (translations).
    """
    return caption_text(caption_plan(scene, rng), lang, variant)


def lexicon_entries() -> list[dict[str, str]]:
    """Rows {"en": phrase, "id": ..., "es": ..., "ru": ..., "tr": ...} covering every English caption word.

    Multi-word phrases (positions, templates) come first, then single words; a target may be "" (Russian has
    no article). Targets are the words the demo test captions use, so a longest-match translation is rough
    in word order but right in vocabulary.
    """
    en = VOCAB["en"]
    rows: dict[str, dict[str, str]] = {}

    def add(phrase: str, targets: dict[str, str]) -> None:
        rows.setdefault(phrase, {"en": phrase, **{lang: targets[lang] for lang in LEXICON_LANGUAGES}})

    for table in ("cells", "sizes", "colours", "shapes"):
        for key, phrase in getattr(en, table).items():
            add(phrase, {lang: getattr(VOCAB[lang], table)[key] for lang in LEXICON_LANGUAGES})
    for phrase, targets in LEXICON_EXTRA.items():
        add(phrase, targets)
    add(en.article, {lang: VOCAB[lang].article for lang in LEXICON_LANGUAGES})
    add(en.and_, {lang: VOCAB[lang].and_ for lang in LEXICON_LANGUAGES})
    return sorted(rows.values(), key=lambda row: (-len(row["en"].split()), row["en"]))
