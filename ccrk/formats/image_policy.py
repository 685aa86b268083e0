"""What happens to an annotation whose image file is absent: stop (`fail`) or drop it and count (`skip`).

Paths are always checked to stay under the image root (`../../etc/passwd` is an error under either policy).
"""

from __future__ import annotations

from pathlib import Path

from ccrk.errors import DataError
from ccrk.formats.paths import join_under

POLICIES = ("fail", "skip")


class MissingImages:
    def __init__(self, root, policy: str = "fail"):
        if policy not in POLICIES:
            raise ValueError(f"missing-image policy {policy!r}: expected one of {POLICIES}")
        self.root, self.policy = (Path(root) if root is not None else None), policy
        self.skipped: dict[str, None] = {}  # "file:line: path" of every dropped annotation, once each

    def keep(self, rel: str, source, line=None, field: str = "image") -> bool:
        """True if `rel` names an existing file under the root (always True without a root to check)."""
        try:
            path = join_under(self.root if self.root is not None else ".", rel)
        except ValueError as e:
            raise DataError(source, line, field, str(e)) from None
        if self.root is None or path.is_file():
            return True
        where = f"{source}:{line}" if line is not None else str(source)
        if self.policy == "fail":
            raise DataError(
                source,
                line,
                field,
                f"image {rel!r} not found under {self.root} (data.missing_images: "
                "fail; set it to skip to drop and count such items)",
            )
        self.skipped[f"{where}: {rel}"] = None
        return False

    def report(self) -> dict:
        return {"missing_images_skipped": len(self.skipped), "missing_images_first": list(self.skipped)[:10]}
