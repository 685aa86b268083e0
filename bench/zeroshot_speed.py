"""Zero-shot encoding throughput: ccrk's path against a plain per-language loop, `python bench/zeroshot_speed.py`.

Both sides encode the same test set (`--images` JPEGs of `--size` px, `--langs` languages with one caption
of 2-30 words per image and language) with the same tiny random model, in one run, `--rounds` interleaved
rounds (fastest kept):

- zero-shot path (`ccrk.zoo.base`): images decoded and transformed by `--workers` DataLoader workers and
  encoded once for all languages; each language's captions in batches sorted by length (less padding);
  fp16/bf16 autocast on CUDA (`--precision`);
- plain loop: for every language, its images decoded in the main process and encoded again, then its
  captions in file order; fp32.

It prints, per side, wall seconds, images/s and texts/s (image/text encodings needed by the languages per
second of its image/text phase), CPU seconds (this process and its loader workers), the wall ratio, whether
both sides give the same R@1, and the load average. The model is a random tiny transformers CLIP (`--model
clip`: padding to the longest caption of each batch, EOS pooling, so padding changes no feature) or open_clip
ViT (`--model open_clip`: its tokenizer pads every caption to the context length, so sorting cannot help).
`--device cuda` for a GPU. (SigLIP pools the last position, padding included: it must pad to max_length.)
"""

import argparse
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ccrk.retrieval import Features  # noqa: E402
from ccrk.zoo import RunSettings, load_encoder, model_spec  # noqa: E402
from ccrk.zoo.base import dual_encoder_ranks, encode_images, encode_texts  # noqa: E402

WORDS = (
    "a the red blue green small large dog cat car tree house river road left right near far of on in".split()
)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the DataLoader workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def make_data(root: Path, n_images: int, size: int, langs: list[str], seed: int = 0):
    from PIL import Image

    rng = random.Random(seed)
    paths = []
    for i in range(n_images):
        image = Image.effect_noise((size, size), 60 + i % 40).convert("RGB")
        paths.append(str(root / f"{i:05d}.jpg"))
        image.save(paths[-1], quality=90)
    texts = {lang: [" ".join(rng.choices(WORDS, k=rng.randint(2, 30))) for _ in paths] for lang in langs}
    return paths, texts


def make_model(root: Path, kind: str, size: int, width: int, layers: int) -> dict:
    if kind == "open_clip":
        from ccrk.demo.zeroshot import write_tiny_open_clip

        return write_tiny_open_clip(root, image_size=size // 4, width=width)
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from ccrk.tokenizer import train_tokenizer

    tok = train_tokenizer([" ".join(WORDS)], root / "clip", vocab_size=120)
    layer = {
        "hidden_size": width,
        "intermediate_size": 4 * width,
        "num_hidden_layers": layers,
        "num_attention_heads": max(1, width // 64),
    }
    special = {
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    config = CLIPConfig(
        text_config={"vocab_size": len(tok), "max_position_embeddings": 40, **layer, **special},
        vision_config={"image_size": size // 4, "patch_size": 8, **layer},
        projection_dim=width,
    )
    CLIPModel(config).save_pretrained(root / "clip")
    side = {"height": size // 4, "width": size // 4}
    CLIPImageProcessor(size=side, crop_size=side, do_center_crop=False).save_pretrained(root / "clip")
    return {"name": "bench", "kind": "transformers", "path": str(root / "clip"), "max_length": 40}


def zero_shot_path(encoder, paths, texts, settings):
    t0 = time.perf_counter()
    images = encode_images(encoder, paths, settings)
    t_img = time.perf_counter() - t0
    feats = {lang: encode_texts(encoder, caps, lang, settings) for lang, caps in texts.items()}
    return images, feats, t_img, time.perf_counter() - t0 - t_img


@torch.no_grad()
def plain_loop(encoder, paths, texts, settings):
    from PIL import Image

    t_img = t_txt = 0.0
    feats = {}
    for lang, caps in texts.items():
        t0 = time.perf_counter()
        rows = []
        for s in range(0, len(paths), settings.batch_size):  # every language encodes its images again
            batch = [
                encoder.image_transform(Image.open(p).convert("RGB"))
                for p in paths[s : s + settings.batch_size]
            ]
            stacked = (
                {k: torch.stack([b[k] for b in batch]).to(settings.device) for k in batch[0]}
                if isinstance(batch[0], dict)
                else torch.stack(batch).to(settings.device)
            )
            rows.append(encoder.encode_image_batch(stacked).feat.float())
        images = Features(None, None, torch.nn.functional.normalize(torch.cat(rows), dim=-1))
        t1 = time.perf_counter()
        out = [
            encoder.encode_text_batch(caps[s : s + settings.batch_size], lang).feat.float()
            for s in range(0, len(caps), settings.batch_size)
        ]
        feats[lang] = Features(None, None, torch.nn.functional.normalize(torch.cat(out), dim=-1))
        t_img, t_txt = t_img + t1 - t0, t_txt + time.perf_counter() - t1
    return images, feats, t_img, t_txt


def r1(images, feats):
    n = len(images.feat)
    return {
        lang: dual_encoder_ranks(images, f, list(range(n)), [[i] for i in range(n)]).metrics["ir_r1"]
        for lang, f in feats.items()
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--size", type=int, default=256, help="JPEG side in pixels (the model sees size/4)")
    ap.add_argument("--langs", default="en,de,es,id,ja,ru,tr,zh")
    ap.add_argument("--model", choices=["clip", "open_clip"], default="clip")
    ap.add_argument("--width", type=int, default=256, help="hidden size of both towers")
    ap.add_argument("--layers", type=int, default=4, help="transformers model: layers of each tower")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="loader workers of the zero-shot path")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: least disturbed on a shared machine)"
    )
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    langs = args.langs.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths, texts = make_data(root, args.images, args.size, langs)
        fast = RunSettings(args.device, args.batch_size, args.workers, args.precision)
        plain = RunSettings(args.device, args.batch_size, 0, "fp32")
        encoder = load_encoder(
            model_spec(make_model(root, args.model, args.size, args.width, args.layers)), fast
        )
        results = {}
        for _ in range(args.rounds):
            for name, fn, settings in (
                ("zero-shot path", zero_shot_path, fast),
                ("plain loop", plain_loop, plain),
            ):
                c0, w0 = cpu_seconds(), time.perf_counter()
                images, feats, t_img, t_txt = fn(encoder, paths, texts, settings)
                wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
                if name not in results or wall < results[name]["wall"]:
                    results[name] = {
                        "wall": wall,
                        "cpu": cpu,
                        "img": t_img,
                        "txt": t_txt,
                        "r1": r1(images, feats),
                    }
    n_img, n_txt = len(paths) * len(langs), sum(len(t) for t in texts.values())
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {args.device}, "
        f"{args.threads} thread(s), model {args.model} width {args.width}; load average {os.getloadavg()}"
    )
    print(f"{len(paths)} images x {len(langs)} languages, {n_txt} captions, batch {args.batch_size}")
    print(f"{'side':16s} {'wall s':>8s} {'cpu s':>8s} {'images/s':>10s} {'texts/s':>10s}")
    for name, r in results.items():
        print(
            f"{name:16s} {r['wall']:8.2f} {r['cpu']:8.2f} {n_img / r['img']:10.1f} {n_txt / r['txt']:10.1f}"
        )
    a, b = results["zero-shot path"], results["plain loop"]
    print(
        f"wall ratio plain / zero-shot: {b['wall'] / a['wall']:.2f}x (images {b['img'] / a['img']:.2f}x, "
        f"texts {b['txt'] / a['txt']:.2f}x); CPU ratio {b['cpu'] / a['cpu']:.2f}x"
    )
    same = all(abs(a["r1"][x] - b["r1"][x]) < 1e-9 for x in langs)
    print(f"same IR@1 on every language: {same}; load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
