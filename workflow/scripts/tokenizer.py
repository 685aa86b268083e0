"""Rule tokenizer: build an XLM-R-style unigram tokenizer on the corpus captions."""

from ccrk.data.pretrain import read_corpus
from ccrk.data.text import pre_caption
from ccrk.jobs import snakemake_job
from ccrk.tokenizer import train_tokenizer

with snakemake_job(snakemake) as log:
    items = read_corpus(snakemake.input.corpus, snakemake.params.languages)
    tok = train_tokenizer(
        (pre_caption(c, 1000) for item in items for c in item.captions),  # as the model reads them
        snakemake.output[0],
        snakemake.params.vocab_size,
    )
    log.info("tokenizer: %d pieces from %d images' captions", len(tok), len(items))
