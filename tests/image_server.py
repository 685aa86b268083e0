"""A local image server on 127.0.0.1 for the download tests and benchmark: good images and injected faults.

Paths: /good/<i>.jpg (a JPEG whose size depends on i), /alpha.png, /missing (404), /error (500),
/slow.jpg (answers after `slow_seconds`), /truncated.jpg (half the declared body, then the connection
closes), /corrupt.jpg (JPEG bytes with a garbled header), /page.html (HTML with status 200), /big.jpg
(over the size cap, with Content-Length), /big-stream.jpg (the same without Content-Length), /loop
(redirects to itself), /redirect.jpg (to /good/0.jpg), /to-file (to file:///etc/passwd), /bomb.png (a
tiny file with many pixels). After `heal()`, /missing and /error serve a good image. Every request is
counted per path; `latency` delays every answer (the benchmark's 100 ms).

Hostile paths (`HOSTILE`, section "a downloader that cannot hang or blow up"): /drip.jpg, /drip-headers and
/drip-redirect send a byte every `drip_seconds`; /endless-redirect is a 302 whose body never ends; /busy
answers 503 with Retry-After: 1 once per query string, then an image; /busy-long always asks for an hour;
/no-location (a 302 with an image body and no Location), /no-content (204), /not-modified (304);
/secret.html, /secret-404 and /garbage reply with SECRET bytes that no manifest may keep; /to-metadata,
/to-loopback2, /to-ipv6-loopback and /to-private redirect to hosts the host policy refuses; images in
`high_bit_depth()` and /eps; /huge.png (3000 x 2000, a few kB on the wire).
"""

from __future__ import annotations

import functools
import http.server
import io
import random
import struct
import threading
import time
import zlib
from collections import Counter, defaultdict

import numpy as np
from PIL import Image

BIG_BYTES = 300_000


@functools.cache
def good_jpeg(i: int) -> bytes:
    width, height = 40 + 37 * (i % 7), 30 + 23 * (i % 5)
    im = Image.new("RGB", (width, height), ((40 * i) % 256, (90 + 13 * i) % 256, (200 - 7 * i) % 256))
    im.paste((255, 255, 255), (0, 0, width // 3, height // 2))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


@functools.cache
def _static() -> dict[str, tuple[str, bytes]]:
    rng = random.Random(0)
    good = good_jpeg(1)
    alpha = io.BytesIO()
    Image.new("RGBA", (50, 40), (255, 0, 0, 0)).save(alpha, "PNG")
    bomb = io.BytesIO()
    Image.new("1", (3000, 3000)).save(bomb, "PNG")  # 9 million pixels in a few kB
    return {
        "/alpha.png": ("image/png", alpha.getvalue()),
        "/corrupt.jpg": ("image/jpeg", good[:20] + rng.randbytes(200) + good[220:]),
        "/page.html": (
            "text/html; charset=utf-8",
            b"<!doctype html><html><body>Image not found</body></html>",
        ),
        "/big.jpg": ("image/jpeg", b"\xff\xd8" + rng.randbytes(BIG_BYTES)),
        "/bomb.png": ("image/png", bomb.getvalue()),
    }


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (grey for a 2-d array, RGB for h x w x 3) written by hand, not by the Pillow under test."""
    height, width = pixels.shape[:2]
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 0 if pixels.ndim == 2 else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@functools.cache
def high_bit_depth() -> dict[str, tuple[bytes, tuple]]:
    """name -> (file bytes, the 8-bit RGB it shows): 16-bit grey and RGB PNG, 16-bit grey, 32-bit integer
    and 32-bit float TIFF, each one flat colour."""
    out = {}
    out["/gray16.png"] = (png16(np.full((24, 32), 32768, np.uint16)), (128, 128, 128))
    out["/dark16.png"] = (png16(np.full((24, 32), 100, np.uint16)), (0, 0, 0))  # 100 of 65535 is black
    rgb = np.empty((24, 32, 3), np.uint16)
    rgb[...] = (65535, 32768, 8224)
    out["/rgb16.png"] = (png16(rgb), (255, 128, 32))
    for name, array, shown in (
        ("/gray16.tif", np.full((24, 32), 16448, np.uint16), (64, 64, 64)),
        ("/int32.tif", np.full((24, 32), 2**30, np.int32), (128, 128, 128)),
        ("/float.tif", np.full((24, 32), 0.75, np.float32), (191, 191, 191)),
    ):
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, "TIFF")
        out[name] = (buf.getvalue(), shown)
    return out


@functools.cache
def hostile_bodies() -> dict[str, tuple[str, bytes]]:
    eps = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(eps, "EPS")  # Pillow writes EPS without Ghostscript
    return {
        "/eps": ("image/x-eps", eps.getvalue()),
        **{
            path: ("image/png" if path.endswith("png") else "image/tiff", body)
            for path, (body, _) in high_bit_depth().items()
        },
    }


@functools.cache
def huge_png() -> bytes:
    """6 megapixels (24 MB decoded) in a few kB."""
    out = io.BytesIO()
    Image.new("RGB", (3000, 2000), (90, 140, 200)).save(out, "PNG", compress_level=9)
    return out.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every answer and flatter the benchmark

    def log_message(self, *args):
        pass

    def _send(
        self, status: int, body: bytes = b"", content_type: str = "image/jpeg", headers=(), length=True
    ):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        server: ImageServer = self.server.owner
        path = self.path.split("?")[0]
        with server.lock:
            server.counts[path] += 1
        if server.latency:
            time.sleep(server.latency)
        if path.startswith("/good/"):
            return self._send(200, good_jpeg(int(path[6:].split(".")[0])))
        if path in ("/missing", "/error"):
            if server.healed:
                return self._send(200, good_jpeg(2))
            return self._send(404 if path == "/missing" else 500, b"no", "text/plain")
        if path == "/slow.jpg":
            time.sleep(server.slow_seconds)
            return self._send(200, good_jpeg(3))
        if path == "/truncated.jpg":
            body = good_jpeg(4)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return None
        if path == "/big-stream.jpg":
            self.close_connection = True  # no length: the body ends when the connection closes
            return self._send(200, _static()["/big.jpg"][1], headers=[("Connection", "close")], length=False)
        if self._hostile(server, path):
            return None
        redirects = {"/loop": "/loop", "/redirect.jpg": "/good/0.jpg", "/to-file": "file:///etc/passwd"}
        if path in redirects:
            return self._send(302, b"", "text/plain", headers=[("Location", redirects[path])])
        if path in _static():
            content_type, body = _static()[path]
            return self._send(200, body, content_type)
        return self._send(404, b"unknown path", "text/plain")

    def _drip(self, data: bytes, seconds: float, status: int = 0, headers=()) -> None:
        """Headers at once (with a status), then `data` a byte every `seconds`."""
        if status:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            self.wfile.flush()
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(seconds)

    def _hostile(self, server: ImageServer, path: str) -> bool:
        """Answer a hostile path (see the module docstring); False for any other path."""
        port = self.server.server_address[1]
        drip = server.drip_seconds
        if path == "/drip.jpg":
            self._drip(
                good_jpeg(5), drip, 200, [("Content-Type", "image/jpeg"), ("Content-Length", "100000")]
            )
        elif path == "/drip-headers":
            self.close_connection = True
            self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Slow: " + b"a" * 1000, drip)
        elif path == "/drip-redirect":
            self._drip(b"x" * 100, drip, 302, [("Location", "/good/0.jpg"), ("Content-Length", "100")])
        elif path == "/endless-redirect":  # chunked, never ending: must not be drained
            self.send_response(302)
            self.send_header("Location", "/good/1.jpg")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
            except OSError:
                pass
        elif path in ("/busy", "/busy-long"):
            with server.lock:
                server.times[self.path].append(time.monotonic())
                first = len(server.times[self.path]) == 1
            if path == "/busy" and not first:
                self._send(200, good_jpeg(7))
            else:
                self._send(503, b"busy", "text/plain", [("Retry-After", "1" if path == "/busy" else "3600")])
        elif path == "/no-location":
            self._send(302, good_jpeg(8))
        elif path in ("/no-content", "/not-modified"):
            self.send_response(204 if path == "/no-content" else 304)
            self.end_headers()
        elif path == "/secret.html":
            self._send(200, b"<html>SECRET-BODY token=abc</html>", "text/html")
        elif path == "/secret-404":
            self.send_response(404, "SECRET-REASON")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b"SECRET-BODY")
        elif path == "/garbage":
            self.close_connection = True
            self.wfile.write(b"SECRET-GARBAGE not http at all\r\n\r\n")
        elif path.startswith("/to-"):
            target = {
                "/to-metadata": "http://169.254.169.254/latest/meta-data/",
                "/to-loopback2": f"http://127.0.0.2:{port}/good/0.jpg",
                "/to-ipv6-loopback": f"http://[::1]:{port}/good/0.jpg",
                "/to-private": "http://10.0.0.1/photo.jpg",
            }.get(path)
            if target is None:
                return False
            self._send(302, b"", "text/plain", headers=[("Location", target)])
        elif path == "/huge.png":
            self._send(200, huge_png(), "image/png")
        elif path in hostile_bodies():
            content_type, body = hostile_bodies()[path]
            self._send(200, body, content_type)
        else:
            return False
        return True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are part of the test


class ImageServer:
    def __init__(
        self, latency: float = 0.0, slow_seconds: float = 2.0, port: int = 0, drip_seconds: float = 0.5
    ):
        self.latency, self.slow_seconds, self.healed = latency, slow_seconds, False
        self.drip_seconds = drip_seconds
        self.counts: Counter = Counter()
        self.times: defaultdict = defaultdict(list)  # full path -> monotonic times of its requests (/busy)
        self.lock = threading.Lock()
        _static()  # built before the first request, so no answer waits for it
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def heal(self) -> None:
        self.healed = True

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_forever(latency: float, port: int) -> None:
    """Run a server in this process until killed (the benchmark's server process)."""
    with ImageServer(latency=latency, port=port) as server:
        print(server.url, flush=True)
        server.thread.join()
