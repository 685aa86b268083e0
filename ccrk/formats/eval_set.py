"""Building a retrieval eval set: one gallery image per key, captions as queries, empty ones reported."""

from __future__ import annotations

from ccrk.errors import DataError
from ccrk.formats.iglue import RetrievalEvalSet


class EvalSetBuilder:
    """Collects (image key, image source, captions) in file order into a RetrievalEvalSet.

    The empty-caption policy of `ccrk.formats.iglue`: a caption that is empty after strip() is no query and is
    listed in `dropped`; its image stays in the gallery so that languages rank against the same images.
    """

    def __init__(self, path):
        self.path = path
        self.out = RetrievalEvalSet([], [], [], [], [], [], [], [])
        self.index: dict = {}

    def add(self, key, source, line, captions: list[str], field: str) -> None:
        out = self.out
        if key not in self.index:
            self.index[key] = len(out.image_paths)
            out.image_paths.append(source)
            out.image_lines.append(line)
            out.img2txt.append([])
            out.image_keys.append(key)
        elif isinstance(source, str) and out.image_paths[self.index[key]] != source:
            first = out.image_lines[self.index[key]]
            raise DataError(
                self.path,
                line,
                field,
                f"image {key} was {out.image_paths[self.index[key]]!r} on "
                f"line {first}, got {source!r}; expected one image per key",
            )
        img = self.index[key]
        for i, caption in enumerate(captions):
            if not caption.strip():
                out.dropped.append((line, f"caption {i}: empty caption {caption!r} after strip()"))
                continue
            out.img2txt[img].append(len(out.texts))
            out.txt2img.append(img)
            out.texts.append(caption)
            out.text_lines.append(line)
