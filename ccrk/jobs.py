"""What every Snakemake job script does first: offline hub, logging into the rule's log, CPU threads."""

import contextlib
import logging
import os
import sys

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def go_offline() -> None:
    """Never let transformers look up a hub: offline lookups otherwise retry for about 50 s."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def setup_logging(log_path: str | None = None, level=logging.INFO, mode: str = "w", prefix: str = "") -> None:
    """Log to stderr and `log_path`; training workers append (mode "a") and tag their rank (`prefix`)."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode=mode, encoding="utf-8"))
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {prefix}%(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )


@contextlib.contextmanager
def snakemake_job(smk):
    """Run a rule's body with its log file, its thread count, and every failure written to the log."""
    go_offline()
    setup_logging(smk.log[0] if smk.log else None)
    if "torch" in sys.modules or smk.threads > 1:  # light jobs never pay for importing torch
        from ccrk.train import cpu_threads

        cpu_threads(smk.threads)
    log = logging.getLogger(f"ccrk.rule.{smk.rule}")
    try:
        yield log
    except Exception:
        log.exception("rule %s failed", smk.rule)
        raise
