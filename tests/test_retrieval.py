"""Two-stage retrieval: re-ranked scores, batched fusion against a per-query loop, exact ranks."""

import numpy as np
import torch

from ccrk.data.transforms import eval_transform
from ccrk.data.iglue import load_eval_set
from ccrk.metrics import gold_ranks
from ccrk.retrieval import encode_images, encode_texts, evaluate_retrieval, rerank_scores, two_stage_scores


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


def _loop_scores(model, img, txt, k):
    """The original's procedure, one query at a time (SPEC §4.1), with ITC order outside the top-k."""
    itc = img.feat @ txt.feat.t()
    i2t = torch.full_like(itc, float("nan"))
    for i in range(itc.shape[0]):
        top = itc[i].topk(k).indices
        logit = model.itm_logits(txt.tokens[top], txt.mask[top], img.tokens[i].expand(k, -1, -1))[:, 1]
        i2t[i] = rerank_scores(itc[i:i + 1], top[None], logit[None])[0]
    t2i = torch.full_like(itc.t(), float("nan"))
    for j in range(itc.shape[1]):
        top = itc[:, j].topk(k).indices
        logit = model.itm_logits(txt.tokens[j].expand(k, -1, -1), txt.mask[j].expand(k, -1), img.tokens[top])[:, 1]
        t2i[j] = rerank_scores(itc.t()[j:j + 1], top[None], logit[None])[0]
    return i2t, t2i


@torch.no_grad()
def test_batched_scores_equal_a_per_query_loop(tiny_model, tiny_tokenizer, demo_dataset):
    ann = demo_dataset / "iglue" / "datasets" / "xFlickrCO" / "annotations" / "de" / "test.jsonl"
    data = load_eval_set(ann, demo_dataset / "images" / "flickr30k-images", demo_dataset / "images" / "val2014")
    img = encode_images(tiny_model, data.image_paths, eval_transform(32), 5, "cpu")
    txt = encode_texts(tiny_model, tiny_tokenizer, data.texts, 5, 40, 40, "cpu")
    i2t, t2i, _ = two_stage_scores(tiny_model, img, txt, k_test=4, batch_size=7)
    ref_i2t, ref_t2i = _loop_scores(tiny_model, img, txt, 4)
    torch.testing.assert_close(i2t, ref_i2t, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(t2i, ref_t2i, rtol=1e-4, atol=1e-4)


def test_evaluate_retrieval_ranks_are_exact_and_consistent(tiny_model, tiny_tokenizer, demo_dataset):
    ann = demo_dataset / "iglue" / "datasets" / "flickr30k" / "annotations" / "valid_ann.jsonl"
    data = load_eval_set(ann, demo_dataset / "images" / "flickr30k-images", demo_dataset / "images" / "val2014")
    r = evaluate_retrieval(tiny_model, tiny_tokenizer, data.image_paths, data.texts, data.txt2img, data.img2txt,
                           eval_transform(32), k_test=3, max_tokens=40, max_words=40, device="cpu", batch_size=4)
    n_img, n_txt = len(data.image_paths), len(data.texts)
    assert n_txt == 5 * n_img and r.ir_ranks.shape == (n_txt,) and r.tr_ranks.shape == (n_img,)
    assert r.ir_ranks.min() >= 0 and r.ir_ranks.max() < n_img and r.tr_ranks.max() < n_txt
    assert r.metrics["ir_r10"] == 100.0  # 8 images: every gold image is within the first 10
    assert r.metrics["ir_r1"] == 100 * np.mean(r.ir_ranks == 0)
    assert r.metrics["n_images"] == n_img and "itc_ir_r1" in r.metrics


def test_gold_rank_is_the_best_of_several_captions():
    scores = np.array([[0.1, 0.9, 0.8, 0.2]])
    assert gold_ranks(scores, [[2, 3]])[0] == 1
