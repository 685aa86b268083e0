"""Annotation paths are relative to an image root and may never leave it."""

import os
from pathlib import Path, PurePosixPath, PureWindowsPath


def join_under(root, rel: str) -> Path:
    """Join `rel` to `root`; absolute paths and escapes (`../../etc/passwd`) raise ValueError.

    The check is lexical (no symlink resolution), so a root that is itself a symlink still works.
    """
    if not rel:
        raise ValueError("image path is empty; expected a file name relative to the image root")
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() or rel[0] in "/\\":
        raise ValueError(f"image path {rel!r} is absolute; expected a path relative to the image root")
    norm = os.path.normpath(rel.replace("\\", "/"))
    if norm in (".", "..") or norm.startswith("../"):
        raise ValueError(f"image path {rel!r} escapes the image root")
    return Path(root) / norm
