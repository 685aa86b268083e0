"""Two-stage retrieval: re-ranked scores, batched fusion against a per-query loop, exact ranks, folds."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ccrk.config import EvalConfig
from ccrk.data.transforms import eval_transform
from ccrk.evaluate import rank_in_folds
from ccrk.formats.iglue import load_eval_set
from ccrk.metrics import gold_ranks
from ccrk.retrieval import (
    encode_images,
    encode_texts,
    evaluate_retrieval,
    per_query_scores,
    rank_features,
    rerank_scores,
    subset,
    two_stage_scores,
)


def test_rerank_puts_top_k_first_in_itm_order_then_the_rest_by_itc():
    itc = torch.tensor([[0.9, 0.1, 0.5, 0.3, 0.7]])
    topk = torch.tensor([[0, 4]])  # the two best by ITC
    itm = torch.tensor([[-2.0, 3.0]])  # ITM prefers candidate 4
    order = rerank_scores(itc, topk, itm)[0].argsort(descending=True).tolist()
    assert order == [4, 0, 2, 3, 1]


def test_rerank_handles_itm_far_below_itc():
    itc = torch.tensor([[100.0, 50.0, 0.0]])
    scores = rerank_scores(itc, torch.tensor([[2]]), torch.tensor([[-1e4]]))
    assert scores[0].argmax().item() == 2  # a top-k candidate outranks every other, whatever its logit


@torch.no_grad()
def test_batched_scores_equal_a_per_query_loop(tiny_model, tiny_tokenizer, demo_dataset):
    ann = demo_dataset / "iglue" / "datasets" / "xFlickrCO" / "annotations" / "de" / "test.jsonl"
    data = load_eval_set(
        ann, demo_dataset / "images" / "flickr30k-images", demo_dataset / "images" / "val2014"
    )
    img = encode_images(tiny_model, data.image_paths, eval_transform(32), 5, "cpu")
    txt = encode_texts(tiny_model, tiny_tokenizer, data.texts, 5, 40, 40, "cpu")
    i2t, t2i, _ = two_stage_scores(tiny_model, img, txt, k_test=4, batch_size=7)
    ref_i2t, ref_t2i, _ = per_query_scores(tiny_model, img, txt, 4)
    torch.testing.assert_close(i2t, ref_i2t, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(t2i, ref_t2i, rtol=1e-4, atol=1e-4)


def _stable_rank(row: torch.Tensor, gold: int) -> int:
    """Position of `gold` when the row is sorted best first, ties by index: counted one candidate at a time."""
    return sum(1 for j, x in enumerate(row.tolist()) if x > row[gold] or (x == row[gold] and j < gold))


@torch.no_grad()
def test_evaluate_retrieval_ranks_are_exact_and_consistent(tiny_model, tiny_tokenizer, demo_dataset):
    """The pipeline's ranks and recalls against the original's per-query loop, ranked and counted by hand."""
    ann = demo_dataset / "iglue" / "datasets" / "flickr30k" / "annotations" / "valid_ann.jsonl"
    data = load_eval_set(
        ann, demo_dataset / "images" / "flickr30k-images", demo_dataset / "images" / "val2014"
    )
    r = evaluate_retrieval(
        tiny_model,
        tiny_tokenizer,
        data.image_paths,
        data.texts,
        data.txt2img,
        data.img2txt,
        eval_transform(32),
        k_test=3,
        max_tokens=40,
        max_words=40,
        device="cpu",
        batch_size=4,
    )
    n_img, n_txt = len(data.image_paths), len(data.texts)
    assert (n_img, n_txt) == (8, 40) and r.ir_ranks.shape == (n_txt,) and r.tr_ranks.shape == (n_img,)
    img = encode_images(tiny_model, data.image_paths, eval_transform(32), 4, "cpu")
    txt = encode_texts(tiny_model, tiny_tokenizer, data.texts, 4, 40, 40, "cpu")
    i2t, t2i, _ = per_query_scores(tiny_model, img, txt, 3)
    ir = [_stable_rank(t2i[t], data.txt2img[t]) for t in range(n_txt)]
    tr = [min(_stable_rank(i2t[i], t) for t in data.img2txt[i]) for i in range(n_img)]
    assert list(r.ir_ranks) == ir and list(r.tr_ranks) == tr
    assert len(set(ir)) > 3 and max(tr) >= 10  # TR ranks (of 40 captions) reach beyond R@10
    for k in (1, 5, 10):
        assert r.metrics[f"ir_r{k}"] == pytest.approx(100 * sum(x < k for x in ir) / n_txt)
        assert r.metrics[f"tr_r{k}"] == pytest.approx(100 * sum(x < k for x in tr) / n_img)
    ir_mean = sum(r.metrics[f"ir_r{k}"] for k in (1, 5, 10)) / 3
    tr_mean = sum(r.metrics[f"tr_r{k}"] for k in (1, 5, 10)) / 3
    assert r.metrics["r_mean"] == pytest.approx((ir_mean + tr_mean) / 2)
    assert r.metrics["n_images"] == n_img and "itc_ir_r1" in r.metrics


def test_gold_rank_is_the_best_of_several_captions():
    scores = np.array([[0.1, 0.9, 0.8, 0.2]])
    assert gold_ranks(scores, [[2, 3]])[0] == 1


@torch.no_grad()
def test_folds_rank_within_each_fold_and_average(tiny_model, tiny_tokenizer, demo_dataset):
    ann = demo_dataset / "iglue" / "datasets" / "flickr30k" / "annotations" / "train_ann.jsonl"
    data = load_eval_set(
        ann, demo_dataset / "images" / "flickr30k-images", demo_dataset / "images" / "val2014"
    )
    img = encode_images(tiny_model, data.image_paths, eval_transform(32), 8, "cpu")
    txt = encode_texts(tiny_model, tiny_tokenizer, data.texts, 16, 40, 40, "cpu")
    cfg = EvalConfig(k_test=3, fusion_batch_size=64)
    one = rank_in_folds(tiny_model, img, txt, data.txt2img, data.img2txt, 1, cfg)
    whole = rank_features(tiny_model, img, txt, data.txt2img, data.img2txt, 3, 64)
    np.testing.assert_array_equal(one[0], whole.ir_ranks)
    np.testing.assert_array_equal(one[1], whole.tr_ranks)
    ir, tr, metrics, fold_of = rank_in_folds(tiny_model, img, txt, data.txt2img, data.img2txt, 5, cfg)
    n = len(data.image_paths)  # 24 images: folds of 4, 4, 4, 4 and 8
    assert list(np.bincount(fold_of)) == [4, 4, 4, 4, 8]
    assert ir.max() < 8 and tr.max() < 8 * 5 and ir.min() >= 0  # ranks within the fold's images / texts
    # fold 0 equals ranking its 4 images and 20 captions on their own
    texts0 = [t for i in range(4) for t in data.img2txt[i]]
    alone = rank_features(
        tiny_model,
        subset(img, range(4)),
        subset(txt, texts0),
        [data.txt2img[t] for t in texts0],
        [[texts0.index(t) for t in data.img2txt[i]] for i in range(4)],
        3,
        64,
    )
    np.testing.assert_array_equal(ir[texts0], alone.ir_ranks)
    assert metrics["folds"][0]["ir_r1"] == alone.metrics["ir_r1"]
    assert metrics["ir_r1"] == np.mean([f["ir_r1"] for f in metrics["folds"]])
    assert metrics["n_images"] == n and metrics["n_texts"] == len(data.texts)


@torch.no_grad()
def test_images_given_as_encoded_bytes_equal_files(tiny_model, demo_dataset):
    paths = sorted((demo_dataset / "images" / "flickr30k-images").glob("*.jpg"))[:3]
    as_bytes = [p.read_bytes() for p in paths]
    a = encode_images(tiny_model, [str(p) for p in paths], eval_transform(32), 2, "cpu")
    b = encode_images(tiny_model, as_bytes, eval_transform(32), 2, "cpu")
    torch.testing.assert_close(a.feat, b.feat)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(png, format="PNG")
    assert encode_images(tiny_model, [png.getvalue()], eval_transform(32), 1, "cpu").feat.shape[0] == 1


@torch.no_grad()
def test_itm_logits_equal_the_full_fusion_read_at_token_0(tiny_model, tiny_tokenizer, demo_dataset):
    """ITM computes only token 0 in the last fusion layer; the logits must equal a full pass read at token 0."""
    ann = demo_dataset / "iglue" / "datasets" / "xFlickrCO" / "annotations" / "ja" / "test.jsonl"
    data = load_eval_set(
        ann, demo_dataset / "images" / "flickr30k-images", demo_dataset / "images" / "val2014"
    )
    img = encode_images(tiny_model, data.image_paths, eval_transform(32), 6, "cpu")
    txt = encode_texts(tiny_model, tiny_tokenizer, data.texts, 6, 40, 40, "cpu", pad_to_max=True)
    full = tiny_model.itm_head(tiny_model.fuse(txt.tokens, txt.mask, img.tokens)[:, 0])
    torch.testing.assert_close(
        tiny_model.itm_logits(txt.tokens, txt.mask, img.tokens), full, rtol=1e-5, atol=1e-5
    )
    assert txt.tokens.shape[1] == 40  # the original's padding: every caption at max_tokens
