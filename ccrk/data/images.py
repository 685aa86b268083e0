"""Opening an image from a file path or from encoded bytes (WIT records carry their pixels)."""

import io

from PIL import Image


def open_image(source) -> Image.Image:
    """An RGB image from a path or from the bytes of an encoded image file."""
    with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as im:
        return im.convert("RGB")
