"""Rule demo_ablation: 1-to-K vs CCLM-style (one random language per image) pretraining, R@1 and MRV."""

from ccrk.jobs import snakemake_job
from ccrk.tables import ablation_table, write_table

with snakemake_job(snakemake):
    inp, p = snakemake.input, snakemake.params
    variants = {
        "1-to-K, all languages (CCRK)": (
            dict(zip(p.langs, inp.one_to_k_metrics)),
            dict(zip(p.langs, inp.one_to_k_ranks)),
        ),
        "one random language per image (CCLM-style, caption_num 1)": (
            dict(zip(p.langs, inp.cclm_metrics)),
            dict(zip(p.langs, inp.cclm_ranks)),
        ),
    }
    write_table(
        ablation_table(variants, p.mrv_langs),
        snakemake.output.csv,
        snakemake.output.md,
        title="Demo ablation: 1-to-K contrastive pretraining vs one random language per image",
        note="Same budget: same images per step, steps, schedule and English fine-tuning. *_avg: mean over the "
        "non-English test languages; itc_*: dual-encoder ranking; mrv_*: MRV over "
        + "/".join(p.mrv_langs)
        + ".",
    )
