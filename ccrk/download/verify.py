"""Decode, verify and resize downloaded image bytes with Pillow; what cannot be decoded is rejected, never stored.

Bounds on hostile bytes: only the formats of the web are opened (no EPS/PostScript, which Pillow hands to
Ghostscript); Pillow's decompression-bomb guard stays on; `max_pixels` refuses large images from the header,
before any pixel is decoded; a JPEG that is to shrink is decoded at a fraction of its size (`draft`); and a
`DecodeBudget` shared by a shard's threads bounds the pixels being decoded at once, so memory is bounded
across the shard rather than per image. High bit depth and float images are scaled to 8 bits (not clipped).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import re
import threading
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

RESIZE_MODES = ("keep_ratio", "center_crop", "none")
ORIENTATION = 0x0112  # the EXIF tag
WEB_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")  # JPEG includes MPO (camera JPEGs)
IMAGE_KINDS = ("not_image", "decode", "too_many_pixels")
# pixels count this many times in a DecodeBudget: these decoders hold extra full-size copies (measured peaks:
# ~4-10 bytes per pixel for JPEG, PNG, GIF, BMP, TIFF; 16-18 for WebP, 20-23 for AVIF)
DECODE_WEIGHT = {"WEBP": 2, "AVIF": 3}
_BYTES_LITERAL = re.compile(r"""b(['"]).*?(?<!\\)\1""")  # Pillow quotes header bytes in some messages


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


@functools.cache  # once per process
def _large_blocks_to_the_os(threshold: int = 4 << 20) -> None:
    """glibc serves large blocks from its heaps once one has been freed (a moving mmap threshold) and keeps
    them per thread: each download thread would hold its largest image's memory after the image is gone,
    whatever the budget. A fixed threshold maps every block over 4 MB and gives it back when freed."""
    try:
        ctypes.CDLL(None).mallopt(-3, threshold)  # -3: M_MMAP_THRESHOLD; CDLL(None): the C library loaded
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class DecodeBudget:
    """Pixels being decoded at once by the threads that share it (about 10 bytes of memory each); a thread
    waits, first come first served, until its image fits, and an image alone always goes ahead."""

    def __init__(self, pixels: int):
        _large_blocks_to_the_os()
        self.pixels, self.used = pixels, 0
        self.cond = threading.Condition()
        self.tickets, self.serving = 0, 0

    @contextlib.contextmanager
    def hold(self, pixels: int):
        with self.cond:
            ticket, self.tickets = self.tickets, self.tickets + 1
            self.cond.wait_for(
                lambda: self.serving == ticket and (self.used == 0 or self.used + pixels <= self.pixels)
            )
            self.used += pixels
            self.serving += 1
            self.cond.notify_all()
        try:
            yield
        finally:
            with self.cond:
                self.used -= pixels
                self.cond.notify_all()


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


def _white_level(im: Image.Image) -> float:
    """The value of white in an integer or float image: 1.0 for float, else 2**bits - 1 of its samples
    (TIFF BitsPerSample; signed samples have one bit less), 65535 for 16-bit modes."""
    if im.mode == "F":
        return 1.0
    if im.mode.startswith("I;16"):
        return 65535.0
    tags = getattr(im, "tag_v2", {})
    bits, sample_format = tags.get(258, 32), tags.get(339, 1)
    bits = bits[0] if isinstance(bits, tuple) else bits
    sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
    return float(2 ** (bits - 1 if sample_format == 2 else bits) - 1)


def to_8bit(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grey scaled to 8-bit L with the same brightness (rounded; outside
    the range clipped). Pillow's convert() would clip instead: a mid-grey 16-bit image would turn white."""
    if im.mode not in ("I", "F") and not im.mode.startswith("I;16"):
        return im
    if im.mode not in ("I;16", "I", "F"):
        im = im.convert("I")  # I;16B and the like: point() works on I;16, I and F only
    scale = 255.0 / _white_level(im)
    return im.point(lambda x: x * scale + 0.5).convert("L")  # +0.5: convert truncates


def _resizable(im: Image.Image) -> Image.Image:
    """8 bits per channel in a mode that resizes well (L, LA, RGB, RGBA): resizing before flattening keeps the
    full-size copies few."""
    im = to_8bit(im)
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return im
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        return im.convert("RGBA")
    return im.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV


def _flatten(im: Image.Image) -> Image.Image:
    """RGB; transparency becomes white, not black."""
    if im.mode in ("LA", "RGBA"):
        rgba = im if im.mode == "RGBA" else im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return im if im.mode == "RGB" else im.convert("RGB")


def _is_image_type(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().startswith("image/") or not content_type


def _message(e: Exception) -> str:
    """The exception in words, without quoted bytes of the file."""
    return _BYTES_LITERAL.sub("b'...'", f"{type(e).__name__}: {e}")


def open_image(data: bytes, content_type: str = "") -> Image.Image:
    """Pillow image of `data` (header read, pixels not yet decoded), restricted to WEB_FORMATS."""
    try:
        return Image.open(io.BytesIO(data), formats=WEB_FORMATS)
    except UnidentifiedImageError:
        kind = "decode" if _is_image_type(content_type) else "not_image"
        shown = content_type.split(";")[0].strip()[:60] or "none"
        raise ImageRejected(
            kind,
            f"not a readable image in {', '.join(WEB_FORMATS)} (Content-Type {shown!r}, {len(data)} bytes)",
        ) from None
    except Image.DecompressionBombError as e:
        raise ImageRejected("too_many_pixels", str(e)) from None
    except Exception as e:  # a malformed header can raise anything from SyntaxError to struct.error
        raise ImageRejected("decode", _message(e)) from None


def _store(im, data: bytes, width: int, height: int, image_size: int, resize_mode: str, quality: int):
    """The StoredImage of an opened image whose header said `width` x `height`."""
    tw, th = target_size(width, height, image_size, resize_mode)
    try:
        im.load()
        if (
            im.format == "JPEG"
            and im.mode == "RGB"
            and (tw, th) == (width, height)
            and resize_mode != "center_crop"
            and im.getexif().get(ORIENTATION, 1) == 1
        ):
            return StoredImage(data, width, height, width, height)  # verified and already right: kept
        ImageOps.exif_transpose(im, in_place=True)  # in place: no full-size copy
        small = _resizable(im)
        tw, th = target_size(*small.size, image_size, resize_mode)  # EXIF rotation may have swapped the sides
        if (tw, th) != small.size:
            small = small.resize((tw, th), Image.Resampling.BICUBIC, reducing_gap=3.0)
        rgb = _flatten(small)
    except Exception as e:
        raise ImageRejected("decode", _message(e)) from None
    if resize_mode == "center_crop":
        left, top = (tw - image_size) // 2, (th - image_size) // 2
        rgb = rgb.crop((left, top, left + image_size, top + image_size))
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=quality)
    return StoredImage(out.getvalue(), rgb.width, rgb.height, width, height)


def verify_and_resize(
    data: bytes,
    content_type: str,
    image_size: int,
    resize_mode: str,
    max_pixels: int,
    quality: int = 95,
    budget: DecodeBudget | None = None,
) -> StoredImage:
    """Decode every pixel of `data` (a truncated or corrupt file raises ImageRejected), apply the EXIF
    orientation, bring it to 8-bit RGB, resize, and encode as JPEG; an RGB JPEG that needs none of it is kept
    as is. With a `budget`, the decode waits until its pixels fit in it."""
    with open_image(data, content_type) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise ImageRejected(
                "too_many_pixels",
                f"{width}x{height} = {width * height} pixels over the cap of "
                f"{max_pixels} (decompression-bomb guard)",
            )
        tw, th = target_size(width, height, image_size, resize_mode)
        try:
            if im.format in ("JPEG", "MPO") and (tw, th) != (width, height):
                im.draft(
                    "RGB", (tw, th)
                )  # DCT-domain downscale: a fraction of the pixels, several times faster
        except Exception as e:
            raise ImageRejected("decode", _message(e)) from None
        cost = im.size[0] * im.size[1] * DECODE_WEIGHT.get(im.format, 1)
        with budget.hold(cost) if budget else contextlib.nullcontext():
            stored = _store(im, data, width, height, image_size, resize_mode, quality)
            im.close()  # the full-size pixels go before the budget is given back
        return stored
