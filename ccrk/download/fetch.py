"""One HTTP(S) download within a total deadline, a size cap, a redirect limit and a host policy; every failure
is sorted into a kind.

Built on urllib3 (the engine under requests, without its per-call session layer): one thread-safe pool
manager serves every download thread (bench/download_throughput.py measures the result). Three things sit
under urllib3 rather than beside it, because a URL list from the wild defeats them otherwise:
- the deadline: urllib3's timeouts bound each socket read, so a server that sends a byte every half second
  holds a request for ever; a clock thread shuts the socket of a request that passes its deadline down;
- the host policy: every connection (so every redirect hop) resolves its host once, refuses loopback,
  private, link-local, multicast, reserved and cloud-metadata addresses unless allowed, and connects to the
  address it checked (no second lookup that a rebinding DNS server could answer differently);
- the lookup itself has no timeout in the C library, so it runs in a helper thread the request stops
  waiting for at its deadline.
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import itertools
import socket
import threading
import time
from urllib.parse import urljoin

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    IncompleteRead,
    InvalidHeader,
    LocationValueError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)
from urllib3.util import Retry, parse_url
from urllib3.util.connection import allowed_gai_family, create_connection

SCHEMES = ("http", "https")
RETRYABLE = ("timeout", "connection", "http_5xx")
FETCH_KINDS = (
    "invalid_url",
    "scheme",
    "blocked_host",
    "connection",
    "timeout",
    "truncated",
    "redirects",
    "http",
    "http_5xx",
    "too_large",
)
REDIRECT_BODY_BYTES = (
    64 * 1024
)  # a redirect body up to this (by Content-Length) is read to keep the connection
# cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, ECS, Alibaba): named in the error
METADATA = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
}


class FetchError(Exception):
    """A URL that gave no usable bytes; `kind` is one word for counting, the message says what happened."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind, self.retry_after = kind, retry_after


def blocked_reason(address: str) -> str | None:
    """Why `address` is no host to fetch from on the open web (None for a global unicast address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:127.0.0.1 reaches 127.0.0.1
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "cloud-metadata"
    for name in ("loopback", "link_local", "multicast", "private", "reserved", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return None if ip.is_global else "non-global"


class HostPolicy:
    """Hosts that resolve to a blocked address are refused unless `allow` names them: a host name (exact,
    case-insensitive), an address or a network (`10.0.0.0/8`) that the resolved addresses fall in."""

    def __init__(self, allow=()):
        self.names, self.networks = set(), []
        for entry in allow:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.lower().rstrip("."))

    def check(self, host: str, addresses: list[str]) -> None:
        if host.lower().rstrip(".") in self.names:
            return
        for address in addresses:
            reason = blocked_reason(address)
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if reason and not any(ip in net for net in self.networks):
                raise FetchError(
                    "blocked_host",
                    f"host {host} resolves to {address}, a {reason} address: refused "
                    "(download.allow_hosts lists hosts and networks to fetch anyway)",
                )


class _Clock:
    """The deadline of one URL and the sockets it uses; past the deadline they are shut down."""

    def __init__(self, clocks: _Clocks, seconds: float, policy: HostPolicy):
        self.clocks, self.seconds, self.policy = clocks, seconds, policy
        self.end = time.monotonic() + seconds
        self.expired = self.done = False
        self.socks: list[socket.socket] = []

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def attach(self, sock) -> None:
        with self.clocks.lock:
            self.socks.append(sock)
            if self.expired:
                _shutdown(sock)

    def detach(self) -> None:
        """Before a connection goes back to the pool: another request may take it."""
        with self.clocks.lock:
            self.socks.clear()

    def timeout_error(self) -> FetchError:
        return FetchError(
            "timeout", f"over the deadline of {self.seconds:g} s (connect, redirects, headers and body)"
        )


def _shutdown(sock) -> None:
    try:  # socket.socket's own shutdown: ssl.SSLSocket's would drop its TLS state under a reading thread
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Clocks:
    """One thread that expires the clocks of a Fetcher in deadline order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.heap: list = []
        self.counter = itertools.count()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="download-deadlines", daemon=True)
        self.thread.start()

    def start(self, seconds: float, policy: HostPolicy) -> _Clock:
        clock = _Clock(self, seconds, policy)
        with self.lock:
            if not self.heap or clock.end < self.heap[0][0]:
                self.wake.notify()  # only an earlier deadline than the one waited for needs the thread
            heapq.heappush(self.heap, (clock.end, next(self.counter), clock))
        return clock

    def finish(self, clock: _Clock) -> None:
        with self.lock:
            clock.done = True
            clock.socks.clear()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.wake.notify()

    def _run(self) -> None:
        with self.lock:
            while not self.closed:
                if not self.heap:
                    self.wake.wait()
                    continue
                end, _, clock = self.heap[0]
                wait = end - time.monotonic()
                if wait > 0 and not clock.done:
                    self.wake.wait(wait)
                    continue
                heapq.heappop(self.heap)
                if not clock.done:
                    clock.expired = True
                    for sock in clock.socks:
                        _shutdown(sock)


_current = threading.local()  # the clock of the URL this thread is fetching


def _resolve(host: str, port: int, seconds: float) -> list[tuple]:
    """getaddrinfo in a helper thread: the C library's lookup has no timeout of its own."""
    result: dict = {}
    done = threading.Event()

    def lookup():
        try:
            result["infos"] = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            result["error"] = e
        done.set()

    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        lookup()  # a literal address needs no name server
    except ValueError:
        threading.Thread(target=lookup, name="download-dns", daemon=True).start()
    if not done.wait(max(seconds, 0)):
        raise FetchError("timeout", f"no DNS answer for {host} within the deadline")
    if "error" in result:
        raise result["error"]
    return result["infos"]


class _Guarded:
    """Connection mixin: every new socket is resolved, checked against the host policy, connected to the
    checked address and put on the request's clock; a reused socket is put on the clock too."""

    def _new_conn(self) -> socket.socket:
        clock = getattr(_current, "clock", None)
        if clock is None:
            return super()._new_conn()
        host = self._dns_host.strip("[]")
        try:
            infos = _resolve(host, self.port, clock.remaining())
        except (socket.gaierror, UnicodeError) as e:
            raise NameResolutionError(self.host, self, e) from e
        clock.policy.check(self.host, [info[4][0] for info in infos])
        error: Exception | None = None
        for info in infos:
            try:
                sock = create_connection(
                    (info[4][0], self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as e:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out")
                error.__cause__ = e
            except OSError as e:
                error = NewConnectionError(self, f"Failed to establish a new connection: {e}")
            else:
                clock.attach(sock)
                return sock
        raise error or NewConnectionError(self, f"no address for {self.host}")

    def request(self, *args, **kwargs):
        clock = getattr(_current, "clock", None)
        if clock is not None and self.sock is not None:
            clock.attach(self.sock)
        return super().request(*args, **kwargs)


class _HTTPConnection(_Guarded, HTTPConnection):
    pass


class _HTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _describe(exc: Exception) -> str:
    """An exception in words, without the bytes of the reply that some carry (BadStatusLine keeps the line)."""
    if isinstance(exc, ProtocolError) and len(exc.args) > 1 and isinstance(exc.args[1], Exception):
        inner = exc.args[1]
        detail = str(inner) if isinstance(inner, (IncompleteRead, OSError)) else type(inner).__name__
        return f"ProtocolError: {exc.args[0]} ({detail})"
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, http.client.IncompleteRead):
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


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


def _status_error(status: int, retry_after: float | None = None) -> FetchError:
    try:
        phrase = http.HTTPStatus(status).phrase  # the standard phrase: the server's own is bytes of the reply
    except ValueError:
        phrase = ""
    kind = "http_5xx" if status >= 500 or status == 429 else "http"
    if 300 <= status < 400:
        phrase += ": no Location to follow" if status != 304 else ": no image body"
    elif status < 300:
        phrase += ": no image body"
    return FetchError(kind, f"HTTP {status} {phrase}".strip(), retry_after)


class Fetcher:
    """Thread-safe: one connection pool and one deadline thread shared by every download thread."""

    def __init__(
        self,
        timeout: float,
        max_bytes: int,
        max_redirects: int = 10,
        retries: int = 0,
        pool_size: int = 16,
        user_agent: str = "ccrk-download",
        deadline: float = 30.0,
        max_retry_after: float = 10.0,
        allow_hosts=(),
    ):
        self.timeout, self.max_bytes, self.retries = timeout, max_bytes, retries
        self.max_redirects, self.deadline, self.max_retry_after = max_redirects, deadline, max_retry_after
        self.policy = HostPolicy(allow_hosts)
        self.pool = urllib3.PoolManager(
            num_pools=max(64, 4 * pool_size),
            maxsize=pool_size,
            block=False,
            headers={"User-Agent": user_agent},
        )
        self.pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self.clocks = _Clocks()

    def close(self) -> None:
        self.clocks.close()
        self.pool.clear()

    def fetch(self, url: str) -> tuple[bytes, str]:
        """(body, Content-Type) of `url`, all tries within `deadline` seconds; transient failures are tried
        again `retries` times, after the server's Retry-After when it gives one (up to `max_retry_after`)."""
        clock = self.clocks.start(self.deadline, self.policy)
        _current.clock = clock
        try:
            for attempt in range(self.retries + 1):
                try:
                    return self._fetch_once(url, clock)
                except FetchError as e:
                    if e.kind not in RETRYABLE or attempt == self.retries:
                        raise
                    wait = min(0.5 * 2**attempt, 4.0)
                    if e.retry_after is not None:
                        if e.retry_after > self.max_retry_after:
                            raise FetchError(
                                e.kind,
                                f"{e}; Retry-After {e.retry_after:.0f} s is over download.max_retry_after "
                                f"({self.max_retry_after:g} s)",
                            ) from None
                        wait = max(wait, e.retry_after)
                    if wait >= clock.remaining():
                        raise FetchError(
                            e.kind, f"{e}; no time for another try before the deadline"
                        ) from None
                    time.sleep(wait)
            raise AssertionError("unreachable")
        finally:
            _current.clock = None
            self.clocks.finish(clock)

    def _fetch_once(self, url: str, clock: _Clock) -> tuple[bytes, str]:
        for _ in range(self.max_redirects + 1):  # redirects are followed here: every hop is checked
            response = self._open(url, clock)
            location = response.get_redirect_location()
            if not location:
                break
            self._discard(response, clock)
            url = urljoin(url, location)
        else:
            raise FetchError("redirects", f"more than {self.max_redirects} redirects (last to {url[:200]})")
        complete = False
        try:
            if not 200 <= response.status < 300 or response.status in (204, 205, 206):
                raise _status_error(response.status, self._retry_after(response))
            body = self._read(response, clock)
            complete = True
            return body, response.headers.get("Content-Type", "")
        finally:
            clock.detach()
            if not complete:  # unread bytes must never reach the next request on this connection
                response.close()
            response.release_conn()

    def _discard(self, response, clock: _Clock) -> None:
        """A redirect's body: read when short (the connection is kept), else the connection is closed."""
        length = response.headers.get("Content-Length", "")
        try:
            if length.isdigit() and int(length) <= REDIRECT_BODY_BYTES:
                for _ in response.stream(REDIRECT_BODY_BYTES):
                    pass
                if clock.expired:
                    raise clock.timeout_error()
            else:
                response.close()
        except (HTTPError, OSError):
            response.close()
            if clock.expired:
                raise clock.timeout_error() from None
        finally:
            clock.detach()
            response.release_conn()

    def _open(self, url: str, clock: _Clock):
        try:
            scheme = parse_url(url).scheme
        except LocationValueError as e:
            raise FetchError("invalid_url", f"invalid URL: {e}") from None
        if scheme not in SCHEMES:
            raise FetchError(
                "scheme", f"URL scheme {scheme!r} refused ({url[:200]}); only http and https are fetched"
            )
        remaining = clock.remaining()
        if remaining <= 0:
            raise clock.timeout_error()
        try:
            return self.pool.urlopen(
                "GET",
                url,
                preload_content=False,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=min(self.timeout, remaining), read=self.timeout),
            )
        except MaxRetryError as e:
            reason = e.reason or e
            if clock.expired:
                raise clock.timeout_error() from None
            raise FetchError(_kind_of(reason), _describe(reason)) from None
        except (HTTPError, OSError) as e:
            if clock.expired:
                raise clock.timeout_error() from None
            raise FetchError(_kind_of(e), _describe(e)) from None

    @staticmethod
    def _retry_after(response) -> float | None:
        value = response.headers.get("Retry-After")
        if response.status not in (429, 503) or not value:
            return None
        try:
            return Retry(retry_after_max=10**9).parse_retry_after(value)
        except InvalidHeader:
            return None

    def _read(self, response, clock: _Clock) -> bytes:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise FetchError("too_large", f"Content-Length {length} over the cap of {self.max_bytes} bytes")
        body = bytearray()
        try:
            for chunk in response.stream(64 * 1024):
                body += chunk
                if len(body) > self.max_bytes:
                    raise FetchError("too_large", f"body over the cap of {self.max_bytes} bytes")
                if clock.expired:
                    break
        except (HTTPError, OSError) as e:
            if clock.expired:
                raise clock.timeout_error() from None
            raise FetchError(_kind_of(e), _describe(e)) from None
        if clock.expired:  # a socket shut down at the deadline can also end the body early and quietly
            raise clock.timeout_error()
        return bytes(body)
