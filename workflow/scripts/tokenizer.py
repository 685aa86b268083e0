"""Rule tokenizer: build an XLM-R-style unigram tokenizer on the corpus captions."""

from ccrk.jobs import snakemake_job
from ccrk.tokenizer import train_tokenizer_on_corpus

with snakemake_job(snakemake) as log:
    tok, n_images = train_tokenizer_on_corpus(
        snakemake.input.corpus,
        snakemake.params.languages,
        snakemake.output[0],
        snakemake.params.vocab_size,
    )
    log.info("tokenizer: %d pieces from %d images' captions", len(tok), n_images)
