"""Building a retrieval eval set: one gallery image per key, captions as queries, empty ones reported."""

from __future__ import annotations

from ccrk.data.text import BLANK, blank_caption
from ccrk.errors import DataError
from ccrk.formats.iglue import RetrievalEvalSet


class EvalSetBuilder:
    """Collects (image key, image source, captions) in file order into a RetrievalEvalSet.

    The empty-caption policy of `ccrk.formats.iglue`: a blank caption (`blank_caption`) is no query and is
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
            if blank_caption(caption):
                out.dropped.append((line, f"caption {i}: " + BLANK.format(caption)))
                continue
            out.img2txt[img].append(len(out.texts))
            out.txt2img.append(img)
            out.texts.append(caption)
            out.text_lines.append(line)


CAPTIONLESS = ("keep", "drop")  # `evaluate.captionless_images`


def without_captionless_images(data: RetrievalEvalSet) -> RetrievalEvalSet:
    """The original's gallery: an image whose captions are all empty leaves it (CCRK's xflickrco_eval_dataset drops
    the line; its WIT reader skips the rows), so galleries differ across languages (de, id of xFlickr&CO: 1999)."""
    keep = [i for i, texts in enumerate(data.img2txt) if texts]
    new_index = {old: new for new, old in enumerate(keep)}
    left_out = [
        (
            data.image_lines[i],
            f"image {data.image_keys[i]} left out of the gallery: no caption (captionless_images: drop)",
        )
        for i in range(len(data.img2txt))
        if i not in new_index
    ]
    return RetrievalEvalSet(
        image_paths=[data.image_paths[i] for i in keep],
        texts=data.texts,
        txt2img=[new_index[i] for i in data.txt2img],
        img2txt=[data.img2txt[i] for i in keep],
        text_lines=data.text_lines,
        image_lines=[data.image_lines[i] for i in keep],
        dropped=data.dropped + left_out,
        image_keys=[data.image_keys[i] for i in keep],
    )
