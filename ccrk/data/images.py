"""Opening an image from a file path or from encoded bytes (WIT records carry their pixels)."""

import io

from PIL import Image

from ccrk.download.verify import WEB_FORMATS, to_8bit


def open_image(source) -> Image.Image:
    """An RGB image from a path or from the bytes of an encoded image file.

    Only the web's formats are opened (never EPS/PostScript, which Pillow hands to Ghostscript), and 16-bit,
    32-bit and float images keep their brightness (Pillow's convert() alone would clip them).
    """
    with Image.open(
        io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source, formats=WEB_FORMATS
    ) as im:
        return to_8bit(im).convert("RGB")
