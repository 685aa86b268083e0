"""A shard's resumable progress: an append-only JSONL log of finished batches, tied to one exact job.

The first line is a fingerprint of everything the translations depend on; a log written for other inputs
or settings is discarded. Each later line is one finished batch, flushed and fsynced before the next
starts; a line torn by a kill is dropped, so a resumed run redoes at most the batch it was killed in.
"""

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("ccrk.translate")


def progress_path(out_path) -> Path:
    out = Path(out_path)
    return out.with_name(f".{out.name}.progress")


class ProgressLog:
    def __init__(self, path, fingerprint: str):
        self.path = Path(path)
        self.done: dict[tuple[str, int], list[str]] = {}  # (target language, batch index) -> translations
        good = self._read(fingerprint)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = "r+" if good else "w"
        self.file = open(self.path, mode, encoding="utf-8", newline="\n")
        if good:
            self.file.truncate(good)  # drop a torn last line before appending
            self.file.seek(good)
        else:
            self._append({"fingerprint": fingerprint})

    def _read(self, fingerprint: str) -> int:
        """Load finished batches; return the byte length of the valid prefix (0: start over)."""
        if not self.path.is_file():
            return 0
        data, good = self.path.read_bytes(), 0
        for i, raw in enumerate(data.split(b"\n")[:-1]):  # the part after the last newline is torn
            try:
                obj = json.loads(raw)
            except ValueError:
                break
            if i == 0 and obj.get("fingerprint") != fingerprint:
                log.warning("%s: written for other inputs or settings; starting the shard over", self.path)
                return 0
            if i > 0:
                self.done[(obj["lang"], obj["batch"])] = obj["out"]
            good += len(raw) + 1
        if self.done:
            log.info("%s: resuming after %d finished batches", self.path, len(self.done))
        return good

    def _append(self, obj: dict) -> None:
        self.file.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def add(self, lang: str, batch: int, translations: list[str]) -> None:
        self._append({"lang": lang, "batch": batch, "out": translations})
        self.done[(lang, batch)] = translations

    def close(self, remove: bool = False) -> None:
        self.file.close()
        if remove:
            self.path.unlink(missing_ok=True)
