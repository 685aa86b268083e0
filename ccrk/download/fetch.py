"""One HTTP(S) download with a size cap and a redirect limit; every failure is sorted into a kind.

Built on urllib3 (the engine under requests, without its per-call session layer): one thread-safe pool
manager serves every download thread (bench/download_throughput.py measures the result).
"""

from __future__ import annotations

import time
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import (
    HTTPError,
    IncompleteRead,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)
from urllib3.util import parse_url

SCHEMES = ("http", "https")
RETRYABLE = ("timeout", "connection", "http_5xx")


class FetchError(Exception):
    """A URL that gave no usable bytes; `kind` is one word for counting, the message says what happened."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _kind_of(exc: Exception) -> str:
    """Sort a urllib3 exception (unwrapped from MaxRetryError) into a failure kind."""
    if isinstance(exc, LocationValueError):
        return "invalid_url"
    if isinstance(exc, NewConnectionError):  # before timeouts: it subclasses ConnectTimeoutError
        return "connection"
    if isinstance(exc, Urllib3Timeout):
        return "timeout"
    if isinstance(exc, ProtocolError) and any(isinstance(a, IncompleteRead) for a in exc.args):
        return "truncated"
    return "connection"


class Fetcher:
    """Thread-safe: one connection pool shared by every download thread."""

    def __init__(
        self,
        timeout: float,
        max_bytes: int,
        max_redirects: int = 10,
        retries: int = 0,
        pool_size: int = 16,
        user_agent: str = "ccrk-download",
    ):
        self.timeout, self.max_bytes, self.retries = timeout, max_bytes, retries
        self.max_redirects = max_redirects
        self.pool = urllib3.PoolManager(
            num_pools=max(64, 4 * pool_size),
            maxsize=pool_size,
            block=False,
            headers={"User-Agent": user_agent},
        )

    def fetch(self, url: str) -> tuple[bytes, str]:
        """(body, Content-Type) of `url`; transient failures are tried again `retries` times."""
        for attempt in range(self.retries + 1):
            try:
                return self._fetch_once(url)
            except FetchError as e:
                if e.kind not in RETRYABLE or attempt == self.retries:
                    raise
                time.sleep(min(0.5 * 2**attempt, 4.0))
        raise AssertionError("unreachable")

    def _fetch_once(self, url: str) -> tuple[bytes, str]:
        for _ in range(
            self.max_redirects + 1
        ):  # redirects are followed here, so every hop's scheme is checked
            response = self._open(url)
            location = response.get_redirect_location()
            if not location:
                break
            response.drain_conn()
            response.release_conn()
            url = urljoin(url, location)
        else:
            raise FetchError("redirects", f"more than {self.max_redirects} redirects (last to {url[:200]})")
        complete = False
        try:
            body = self._read(response)
            complete = True
            return body, response.headers.get("Content-Type", "")
        finally:
            if not complete:  # unread bytes must never reach the next request on this connection
                response.close()
            response.release_conn()

    def _open(self, url: str):
        try:
            scheme = parse_url(url).scheme
        except LocationValueError as e:
            raise FetchError("invalid_url", f"invalid URL: {e}") from None
        if scheme not in SCHEMES:
            raise FetchError(
                "scheme", f"URL scheme {scheme!r} refused ({url[:200]}); only http and https are fetched"
            )
        try:
            return self.pool.urlopen(
                "GET",
                url,
                preload_content=False,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
            )
        except MaxRetryError as e:
            reason = e.reason or e
            raise FetchError(_kind_of(reason), f"{type(reason).__name__}: {reason}") from None
        except (HTTPError, OSError) as e:
            raise FetchError(_kind_of(e), f"{type(e).__name__}: {e}") from None

    def _read(self, response) -> bytes:
        if response.status >= 400:
            kind = "http_5xx" if response.status >= 500 or response.status == 429 else "http"
            raise FetchError(kind, f"HTTP {response.status} {response.reason or ''}".strip())
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise FetchError("too_large", f"Content-Length {length} over the cap of {self.max_bytes} bytes")
        chunks, size = [], 0
        try:
            for chunk in response.stream(64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError("too_large", f"body over the cap of {self.max_bytes} bytes")
                chunks.append(chunk)
        except (HTTPError, OSError) as e:
            raise FetchError(_kind_of(e), f"{type(e).__name__}: {e}") from None
        return b"".join(chunks)
