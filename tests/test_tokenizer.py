"""Tokenizers load from a directory (never vocab_file=) and cover every language of the demo."""

import pytest

from ccrk.errors import CCRKError
from ccrk.tokenizer import load_tokenizer, unknown_token_counts

KNOWN = {
    "en": "a large red circle at the top left",
    "de": "ein großer roter Kreis oben links",
    "fr": "un grand cercle rouge en haut à gauche",
    "cs": "velký červený kruh vlevo nahoře",
    "zh": "左上角有一个大的红色圆形",
    "ja": "左上に大きい赤い丸がある",
    "es": "un círculo rojo grande arriba a la izquierda",
    "id": "lingkaran merah besar di kiri atas",
    "ru": "большой красный круг вверху слева",
    "tr": "sol üstte büyük kırmızı bir daire",
}


def test_every_language_tokenizes_without_unk(tiny_tokenizer):
    assert unknown_token_counts(tiny_tokenizer, KNOWN) == {lang: 0 for lang in KNOWN}
    # and the check does detect what the corpus never showed
    assert unknown_token_counts(tiny_tokenizer, {"el": "ένας κόκκινος κύκλος"})["el"] > 0


def test_xlmr_special_tokens(tiny_tokenizer):
    ids = tiny_tokenizer("a red circle")["input_ids"]
    assert ids[0] == tiny_tokenizer.bos_token_id == 0 and ids[-1] == tiny_tokenizer.eos_token_id == 2
    assert tiny_tokenizer.pad_token_id == 1 and tiny_tokenizer.mask_token_id == len(tiny_tokenizer) - 1


def test_reload_from_directory_gives_the_same_ids(tiny_tokenizer, tmp_path):
    tiny_tokenizer.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again(list(KNOWN.values()))["input_ids"] == tiny_tokenizer(list(KNOWN.values()))["input_ids"]


def test_not_a_tokenizer_directory(tmp_path):
    with pytest.raises(CCRKError, match="not a tokenizer directory"):
        load_tokenizer(tmp_path)


def test_frequent_words_are_single_pieces_and_unspaced_scripts_split_by_character(tiny_tokenizer):
    pieces = tiny_tokenizer.convert_ids_to_tokens(tiny_tokenizer("a picture of a red circle")["input_ids"])
    assert pieces == ["<s>", "▁a", "▁picture", "▁of", "▁a", "▁red", "▁circle", "</s>"]
    zh = tiny_tokenizer.convert_ids_to_tokens(tiny_tokenizer("红色圆形")["input_ids"])[1:-1]
    chars = [p.lstrip("▁") for p in zh if p != "▁"]
    assert chars == ["红", "色", "圆", "形"]  # one piece per character, like XLM-R on unseen compounds
