"""Build a randomly initialised M2M-100 directory laid out like the released one, for tests and benchmarks.

The tokenizer is a sentencepiece BPE model trained on the given sentences, wrapped the way
facebook/m2m100_* ships it: fairseq ids in vocab.json (<s> <pad> </s> <unk> first), then the 100
language tokens as special tokens, then 8 "madeupword" slots counted in the model's vocab_size.
"""

import io
import json
from pathlib import Path

from ccrk.io import atomic_dir
from ccrk.translate.languages import M2M100_LANGUAGES, language_token

FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
NUM_MADEUP_WORDS = 8


def train_m2m_tokenizer(sentences: list[str], out_dir, vocab_size: int = 300):
    """Write vocab.json, sentencepiece.bpe.model and the tokenizer config into out_dir; return the tokenizer."""
    import sentencepiece as spm
    from transformers import M2M100Tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    (out / "sentencepiece.bpe.model").write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    vocab = {tok: i for i, tok in enumerate(FAIRSEQ_SPECIALS)}
    for i in range(sp.get_piece_size()):
        if not (sp.is_control(i) or sp.is_unknown(i)):
            vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    # transformers 5 does not add the language tokens as special tokens by itself: pass them, as the hub files do
    tok = M2M100Tokenizer(
        str(out / "vocab.json"),
        str(out / "sentencepiece.bpe.model"),
        additional_special_tokens=[language_token(c) for c in M2M100_LANGUAGES],
        num_madeup_words=NUM_MADEUP_WORDS,
        model_max_length=1024,
    )
    tok.save_pretrained(str(out))
    return tok


def build_random_m2m100(
    out_dir,
    sentences: list[str],
    *,
    vocab_size: int = 300,
    d_model: int = 32,
    layers: int = 1,
    heads: int = 2,
    ffn_dim: int = 64,
    max_positions: int = 256,
    init_std: float = 0.02,
    seed: int = 0,
) -> Path:
    """A complete M2M-100 directory (config, safetensors weights, tokenizer) with random weights, atomically."""
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        tok = train_m2m_tokenizer(sentences, tmp, vocab_size)
        config = M2M100Config(
            vocab_size=len(tok) + NUM_MADEUP_WORDS,
            d_model=d_model,
            encoder_layers=layers,
            decoder_layers=layers,
            encoder_attention_heads=heads,
            decoder_attention_heads=heads,
            encoder_ffn_dim=ffn_dim,
            decoder_ffn_dim=ffn_dim,
            max_position_embeddings=max_positions,
            dropout=0.0,
            attention_dropout=0.0,
            activation_dropout=0.0,
            encoder_layerdrop=0.0,
            decoder_layerdrop=0.0,
            init_std=init_std,
            scale_embedding=True,
            tie_word_embeddings=False,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            decoder_start_token_id=tok.eos_token_id,
        )
        torch.manual_seed(
            seed
        )  # untied head above: a tied random model only repeats the forced language token
        model = M2M100ForConditionalGeneration(config).eval()
        # a trained model never predicts <pad> (M2M-100's positions skip it) nor a madeupword (no text): nor this one
        with torch.no_grad():
            model.lm_head.weight[[config.pad_token_id, *range(len(tok), config.vocab_size)]] = 0.0
        model.save_pretrained(str(tmp))
    return out


def demo_captions(n_scenes: int, languages=("en", "es", "id", "ru", "tr"), seed: int = 0) -> list[str]:
    """Parallel demo captions of n random scenes in each language: tokenizer text and benchmark input."""
    import random

    from ccrk.demo.captions import describe
    from ccrk.demo.scenes import sample_scene

    rng = random.Random(seed)
    scenes = [sample_scene(rng) for _ in range(n_scenes)]
    return [
        describe(s, lang, random.Random(f"{seed}:{i}")) for i, s in enumerate(scenes) for lang in languages
    ]
