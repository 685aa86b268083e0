"""Decode, verify and resize downloaded image bytes with Pillow; what cannot be decoded is rejected, never stored.

Pillow's decompression-bomb guard stays on; `max_pixels` refuses large images from the header alone, before
any pixel is decoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

RESIZE_MODES = ("keep_ratio", "center_crop", "none")
ORIENTATION = 0x0112  # the EXIF tag


class ImageRejected(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class StoredImage:
    jpeg: bytes  # what is written to disk
    width: int  # stored size
    height: int
    original_width: int  # size in the downloaded file
    original_height: int


def target_size(width: int, height: int, image_size: int, resize_mode: str) -> tuple[int, int]:
    """Size before any crop: keep_ratio shrinks the shorter side to image_size (never enlarges); center_crop
    scales the shorter side to exactly image_size; none keeps the size."""
    short = min(width, height)
    if resize_mode == "none" or (resize_mode == "keep_ratio" and short <= image_size):
        return width, height
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize_mode {resize_mode!r}; expected one of {RESIZE_MODES}")
    scale = image_size / short
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))  # transparency becomes white, not black
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return im.convert("RGB")


def _is_image_type(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().startswith("image/") or not content_type


def verify_and_resize(
    data: bytes, content_type: str, image_size: int, resize_mode: str, max_pixels: int, quality: int = 95
) -> StoredImage:
    """Decode every pixel of `data` (a truncated or corrupt file raises ImageRejected), apply the EXIF
    orientation, flatten to RGB, resize, and encode as JPEG; an RGB JPEG that needs none of it is kept as is."""
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        kind = "decode" if _is_image_type(content_type) else "not_image"
        raise ImageRejected(
            kind,
            f"not a readable image (Content-Type {content_type or 'none'!r}, "
            f"{len(data)} bytes, starts {data[:16]!r})",
        ) from None
    except Image.DecompressionBombError as e:
        raise ImageRejected("too_many_pixels", str(e)) from None
    except Exception as e:  # a malformed header can raise anything from SyntaxError to struct.error
        raise ImageRejected("decode", f"{type(e).__name__}: {e}") from None
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise ImageRejected(
                "too_many_pixels",
                f"{width}x{height} = {width * height} pixels over the cap of "
                f"{max_pixels} (decompression-bomb guard)",
            )
        tw, th = target_size(width, height, image_size, resize_mode)
        try:
            if im.format == "JPEG" and (tw, th) != (width, height):
                im.draft("RGB", (tw, th))  # DCT-domain downscale: decodes every block, several times faster
            im.load()
            if (
                im.format == "JPEG"
                and im.mode == "RGB"
                and (tw, th) == (width, height)
                and resize_mode != "center_crop"
                and im.getexif().get(ORIENTATION, 1) == 1
            ):
                return StoredImage(
                    data, width, height, width, height
                )  # verified and already right: kept as is
            rgb = _to_rgb(ImageOps.exif_transpose(im))
        except Exception as e:
            raise ImageRejected("decode", f"{type(e).__name__}: {e}") from None
    tw, th = target_size(*rgb.size, image_size, resize_mode)  # EXIF rotation may have swapped the sides
    if (tw, th) != rgb.size:
        rgb = rgb.resize((tw, th), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if resize_mode == "center_crop":
        left, top = (tw - image_size) // 2, (th - image_size) // 2
        rgb = rgb.crop((left, top, left + image_size, top + image_size))
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=quality)
    return StoredImage(out.getvalue(), rgb.width, rgb.height, width, height)
