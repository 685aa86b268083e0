"""A local image server on 127.0.0.1 for the download tests and benchmark: good images and injected faults.

Paths: /good/<i>.jpg (a JPEG whose size depends on i), /alpha.png, /missing (404), /error (500),
/slow.jpg (answers after `slow_seconds`), /truncated.jpg (half the declared body, then the connection
closes), /corrupt.jpg (JPEG bytes with a garbled header), /page.html (HTML with status 200), /big.jpg
(over the size cap, with Content-Length), /big-stream.jpg (the same without Content-Length), /loop
(redirects to itself), /redirect.jpg (to /good/0.jpg), /to-file (to file:///etc/passwd), /bomb.png (a
tiny file with many pixels). After `heal()`, /missing and /error serve a good image. Every request is
counted per path; `latency` delays every answer (the benchmark's 100 ms).
"""

from __future__ import annotations

import functools
import http.server
import io
import random
import threading
import time
from collections import Counter

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
        redirects = {"/loop": "/loop", "/redirect.jpg": "/good/0.jpg", "/to-file": "file:///etc/passwd"}
        if path in redirects:
            return self._send(302, b"", "text/plain", headers=[("Location", redirects[path])])
        if path in _static():
            content_type, body = _static()[path]
            return self._send(200, body, content_type)
        return self._send(404, b"unknown path", "text/plain")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are part of the test


class ImageServer:
    def __init__(self, latency: float = 0.0, slow_seconds: float = 2.0, port: int = 0):
        self.latency, self.slow_seconds, self.healed = latency, slow_seconds, False
        self.counts: Counter = Counter()
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
