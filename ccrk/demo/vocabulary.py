"""Word tables of the demo captions in 10 languages (demo-only grammar, real words and word order).

Simplifications, all demo-only: every caption is a list of noun phrases "article size colour shape" plus a
position phrase; German and French decline article and adjectives by gender (and German by case), every other
language uses one form per word: the shape nouns were chosen so that this is correct (ru, cs: all masculine;
es: "signo más" instead of the feminine "cruz"); Turkish, Chinese and Japanese put the position first.
"""

from dataclasses import dataclass

from ccrk.demo.scenes import CELLS

GENERATOR_LANGUAGES = ("en", "de", "fr", "cs", "zh", "ja")  # the "given translations" of the pretraining set
TEST_ONLY_LANGUAGES = ("id", "es", "ru", "tr")  # human-style test captions and the lexicon's targets
LANGUAGES = GENERATOR_LANGUAGES + TEST_ONLY_LANGUAGES
LEXICON_LANGUAGES = TEST_ONLY_LANGUAGES

Form = str | dict[str, str]  # one word, or its forms by agreement key: "m", "f" or "m.nom", "n.dat", ...


@dataclass(frozen=True)
class LanguageVocab:
    shapes: dict[str, str]
    colours: dict[str, Form]
    sizes: dict[str, Form]
    cells: dict[str, str]  # position phrase of each grid cell
    article: Form  # indefinite article, "" where the language has none
    and_: str
    # (grammatical case, format with {objects}); index k means the same in every language:
    # 0 the bare list, 1 "there is ...", 2 "a picture of ..."
    templates: tuple[tuple[str, str], ...]
    np_order: tuple[str, ...]  # order of "article", "size", "colour", "shape" inside a noun phrase
    clause: tuple[str, str]  # one object with and without its position phrase
    join: tuple[str, str]  # between objects, and before the last one
    genders: dict[str, str] | None = None  # shape -> gender, for languages whose adjectives agree
    spaced: bool = True  # False for zh, ja: no spaces between words


def inflect(word: Form, gender: str | None, case: str) -> str:
    """The form of `word` that agrees with a noun of `gender` in `case` (plain strings never change)."""
    if isinstance(word, str):
        return word
    return word[f"{gender}.{case}"] if f"{gender}.{case}" in word else word[gender]


def _cells(*phrases: str) -> dict[str, str]:
    assert len(phrases) == len(CELLS)
    return dict(zip(CELLS, phrases))


# German strong/mixed declension after "ein": only masculine and neuter nouns occur
_DE_ARTICLE = {
    "m.nom": "ein",
    "m.acc": "einen",
    "m.dat": "einem",
    "n.nom": "ein",
    "n.acc": "ein",
    "n.dat": "einem",
}
_DE_ENDING = {"m.nom": "er", "m.acc": "en", "m.dat": "en", "n.nom": "es", "n.acc": "es", "n.dat": "en"}


def _de(stem: str) -> dict[str, str]:
    return {key: stem + ending for key, ending in _DE_ENDING.items()}


def _fr(masculine: str, feminine: str) -> dict[str, str]:
    return {"m": masculine, "f": feminine}


_SPACED_CLAUSE = ("{np} {pos}", "{np}")

VOCAB: dict[str, LanguageVocab] = {
    "en": LanguageVocab(
        shapes={"circle": "circle", "square": "square", "triangle": "triangle", "cross": "cross"},
        colours={c: c for c in ("red", "green", "blue", "yellow", "purple", "white")},
        sizes={"small": "small", "large": "large"},
        cells=_cells(
            "at the top left",
            "at the top",
            "at the top right",
            "on the left",
            "in the center",
            "on the right",
            "at the bottom left",
            "at the bottom",
            "at the bottom right",
        ),
        article="a",  # every noun phrase starts with a consonant (size or colour word)
        and_="and",
        templates=(("nom", "{objects}"), ("nom", "there is {objects}"), ("nom", "a picture of {objects}")),
        np_order=("article", "size", "colour", "shape"),
        clause=_SPACED_CLAUSE,
        join=(" and ", " and "),  # no commas: the lexicon translator matches whole words
    ),
    "de": LanguageVocab(
        shapes={"circle": "Kreis", "square": "Quadrat", "triangle": "Dreieck", "cross": "Kreuz"},
        colours={
            "red": _de("rot"),
            "green": _de("grün"),
            "blue": _de("blau"),
            "yellow": _de("gelb"),
            "purple": _de("violett"),
            "white": _de("weiß"),
        },
        sizes={"small": _de("klein"), "large": _de("groß")},
        cells=_cells(
            "oben links",
            "oben",
            "oben rechts",
            "links",
            "in der Mitte",
            "rechts",
            "unten links",
            "unten",
            "unten rechts",
        ),
        article=_DE_ARTICLE,
        and_="und",
        templates=(("nom", "{objects}"), ("acc", "es gibt {objects}"), ("dat", "ein Bild mit {objects}")),
        np_order=("article", "size", "colour", "shape"),
        clause=_SPACED_CLAUSE,
        join=(", ", " und "),
        genders={"circle": "m", "square": "n", "triangle": "n", "cross": "n"},
    ),
    "fr": LanguageVocab(
        shapes={"circle": "cercle", "square": "carré", "triangle": "triangle", "cross": "croix"},
        colours={
            "red": _fr("rouge", "rouge"),
            "green": _fr("vert", "verte"),
            "blue": _fr("bleu", "bleue"),
            "yellow": _fr("jaune", "jaune"),
            "purple": _fr("violet", "violette"),
            "white": _fr("blanc", "blanche"),
        },
        sizes={"small": _fr("petit", "petite"), "large": _fr("grand", "grande")},
        cells=_cells(
            "en haut à gauche",
            "en haut",
            "en haut à droite",
            "à gauche",
            "au centre",
            "à droite",
            "en bas à gauche",
            "en bas",
            "en bas à droite",
        ),
        article=_fr("un", "une"),
        and_="et",
        templates=(("nom", "{objects}"), ("nom", "il y a {objects}"), ("nom", "une image avec {objects}")),
        np_order=("article", "size", "shape", "colour"),  # grand/petit precede the noun, colours follow it
        clause=_SPACED_CLAUSE,
        join=(", ", " et "),
        genders={"circle": "m", "square": "m", "triangle": "m", "cross": "f"},
    ),
    "cs": LanguageVocab(
        shapes={"circle": "kruh", "square": "čtverec", "triangle": "trojúhelník", "cross": "kříž"},
        colours={
            "red": "červený",
            "green": "zelený",
            "blue": "modrý",
            "yellow": "žlutý",
            "purple": "fialový",
            "white": "bílý",
        },
        sizes={"small": "malý", "large": "velký"},
        cells=_cells(
            "vlevo nahoře",
            "nahoře",
            "vpravo nahoře",
            "vlevo",
            "uprostřed",
            "vpravo",
            "vlevo dole",
            "dole",
            "vpravo dole",
        ),
        article="",
        and_="a",
        templates=(
            ("nom", "{objects}"),
            ("nom", "je tu {objects}"),
            ("nom", "obrázek, na kterém je {objects}"),
        ),
        np_order=("size", "colour", "shape"),
        clause=_SPACED_CLAUSE,
        join=(", ", " a "),
    ),
    "zh": LanguageVocab(
        shapes={"circle": "圆形", "square": "正方形", "triangle": "三角形", "cross": "十字形"},
        colours={
            "red": "红色",
            "green": "绿色",
            "blue": "蓝色",
            "yellow": "黄色",
            "purple": "紫色",
            "white": "白色",
        },
        sizes={"small": "小的", "large": "大的"},
        cells=_cells("左上角", "上方", "右上角", "左边", "中间", "右边", "左下角", "下方", "右下角"),
        article="一个",
        and_="和",  # objects are clauses "<position>有<object>", which Chinese joins with commas
        templates=(("nom", "{objects}。"), ("nom", "图中{objects}。"), ("nom", "这张图片中{objects}。")),
        np_order=("article", "size", "colour", "shape"),
        clause=("{pos}有{np}", "有{np}"),
        join=("，", "，"),
        spaced=False,
    ),
    "ja": LanguageVocab(
        shapes={"circle": "丸", "square": "四角", "triangle": "三角", "cross": "十字"},
        colours={
            "red": "赤い",
            "green": "緑の",
            "blue": "青い",
            "yellow": "黄色い",
            "purple": "紫の",
            "white": "白い",
        },
        sizes={"small": "小さい", "large": "大きい"},
        cells=_cells("左上に", "上に", "右上に", "左に", "真ん中に", "右に", "左下に", "下に", "右下に"),
        article="",
        and_="と",
        templates=(("nom", "{objects}"), ("nom", "{objects}がある"), ("nom", "{objects}が描かれた絵")),
        np_order=("size", "colour", "shape"),
        clause=("{pos}{np}", "{np}"),
        join=("、", "と"),
        spaced=False,
    ),
    "id": LanguageVocab(
        shapes={"circle": "lingkaran", "square": "persegi", "triangle": "segitiga", "cross": "salib"},
        colours={
            "red": "merah",
            "green": "hijau",
            "blue": "biru",
            "yellow": "kuning",
            "purple": "ungu",
            "white": "putih",
        },
        sizes={"small": "kecil", "large": "besar"},
        cells=_cells(
            "di kiri atas",
            "di atas",
            "di kanan atas",
            "di kiri",
            "di tengah",
            "di kanan",
            "di kiri bawah",
            "di bawah",
            "di kanan bawah",
        ),
        article="sebuah",
        and_="dan",
        templates=(("nom", "{objects}"), ("nom", "ada {objects}"), ("nom", "gambar {objects}")),
        np_order=("article", "shape", "colour", "size"),
        clause=_SPACED_CLAUSE,
        join=(", ", " dan "),
    ),
    "es": LanguageVocab(
        shapes={"circle": "círculo", "square": "cuadrado", "triangle": "triángulo", "cross": "signo más"},
        colours={
            "red": "rojo",
            "green": "verde",
            "blue": "azul",
            "yellow": "amarillo",
            "purple": "morado",
            "white": "blanco",
        },
        sizes={"small": "pequeño", "large": "grande"},
        cells=_cells(
            "arriba a la izquierda",
            "arriba",
            "arriba a la derecha",
            "a la izquierda",
            "en el centro",
            "a la derecha",
            "abajo a la izquierda",
            "abajo",
            "abajo a la derecha",
        ),
        article="un",
        and_="y",
        templates=(("nom", "{objects}"), ("nom", "hay {objects}"), ("nom", "una imagen de {objects}")),
        np_order=("article", "shape", "colour", "size"),
        clause=_SPACED_CLAUSE,
        join=(", ", " y "),
    ),
    "ru": LanguageVocab(
        shapes={"circle": "круг", "square": "квадрат", "triangle": "треугольник", "cross": "крест"},
        colours={
            "red": "красный",
            "green": "зелёный",
            "blue": "синий",
            "yellow": "жёлтый",
            "purple": "фиолетовый",
            "white": "белый",
        },
        sizes={"small": "маленький", "large": "большой"},
        cells=_cells(
            "вверху слева",
            "вверху",
            "вверху справа",
            "слева",
            "в центре",
            "справа",
            "внизу слева",
            "внизу",
            "внизу справа",
        ),
        article="",
        and_="и",
        templates=(("nom", "{objects}"), ("nom", "здесь {objects}"), ("nom", "на картинке {objects}")),
        np_order=("size", "colour", "shape"),
        clause=_SPACED_CLAUSE,
        join=(", ", " и "),
    ),
    "tr": LanguageVocab(
        shapes={"circle": "daire", "square": "kare", "triangle": "üçgen", "cross": "artı"},
        colours={
            "red": "kırmızı",
            "green": "yeşil",
            "blue": "mavi",
            "yellow": "sarı",
            "purple": "mor",
            "white": "beyaz",
        },
        sizes={"small": "küçük", "large": "büyük"},
        cells=_cells(
            "sol üstte", "üstte", "sağ üstte", "solda", "ortada", "sağda", "sol altta", "altta", "sağ altta"
        ),
        article="bir",
        and_="ve",
        templates=(("nom", "{objects}"), ("nom", "{objects} var"), ("nom", "resimde {objects} var")),
        np_order=("size", "colour", "article", "shape"),  # "büyük kırmızı bir daire"
        clause=("{pos} {np}", "{np}"),
        join=(", ", " ve "),
    ),
}

# English phrases of the templates and the words inside the position phrases, for the demo lexicon;
# the targets are the words the test captions of that language use
LEXICON_EXTRA: dict[str, dict[str, str]] = {
    "there is": {"id": "ada", "es": "hay", "ru": "здесь", "tr": "var"},
    "a picture of": {"id": "gambar", "es": "una imagen de", "ru": "на картинке", "tr": "resimde"},
    "picture": {"id": "gambar", "es": "imagen", "ru": "картинка", "tr": "resim"},
    "top": {"id": "atas", "es": "arriba", "ru": "вверху", "tr": "üst"},
    "bottom": {"id": "bawah", "es": "abajo", "ru": "внизу", "tr": "alt"},
    "left": {"id": "kiri", "es": "izquierda", "ru": "слева", "tr": "sol"},
    "right": {"id": "kanan", "es": "derecha", "ru": "справа", "tr": "sağ"},
    "center": {"id": "tengah", "es": "centro", "ru": "центре", "tr": "orta"},
}
