"""Atomic writers, and readers of text, JSON and JSONL whose errors name the file, line and field: bad bytes
are an error (never a bare UnicodeDecodeError), a leading byte-order mark is dropped."""

import codecs
import contextlib
import gzip
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ccrk.errors import DataError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield an empty temporary directory beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8"):
    """Open a temporary file for writing that replaces `path` only when closed without error."""
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": "\n"}
        with open(tmp, mode, **kwargs) as f:
            yield f


def write_jsonl(path, records: Iterable[dict]) -> int:
    """Write one compact JSON object per line (raw UTF-8, like the IGLUE files), atomically."""
    n = 0
    with atomic_open(path) as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path, obj: Any) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def _open_binary(path):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def decode_utf8(path, line_no: int, raw: bytes) -> str:
    """One line's bytes as text; bytes that are not UTF-8 raise DataError naming the line and column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            path,
            line_no,
            None,
            f"invalid UTF-8: byte 0x{raw[e.start]:02x} at byte {e.start + 1} of the line; expected UTF-8 text",
        ) from None


def iter_raw_lines(path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without the line ending) of a file, gunzipped if it ends in `.gz`; a leading
    UTF-8 byte-order mark is dropped. Lines end at LF only (a CR before it is dropped), as Python's newline="\n"."""
    try:
        with _open_binary(path) as f:
            for line_no, raw in enumerate(f, start=1):
                if line_no == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                yield line_no, raw.rstrip(b"\n").rstrip(b"\r")
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(path, None, None, f"corrupt gzip data: {e}") from None


def iter_lines(path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of a UTF-8 text file (see iter_raw_lines); bad bytes raise DataError."""
    for line_no, raw in iter_raw_lines(path):
        yield line_no, decode_utf8(path, line_no, raw)


def read_json(path) -> Any:
    """A JSON file (a leading byte-order mark is dropped); bad bytes or bad JSON raise DataError with the line."""
    with open(path, "rb") as f:
        data = f.read().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:  # the error of the line that holds the bad byte
        start, end = data.rfind(b"\n", 0, e.start) + 1, data.find(b"\n", e.start)
        decode_utf8(path, data.count(b"\n", 0, e.start) + 1, data[start : end if end >= 0 else len(data)])
        raise
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, None, f"invalid JSON: {e.msg}") from None


def iter_jsonl(path) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for every non-blank line; a bad line raises DataError."""
    for line_no, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, line_no, None, f"invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(path, line_no, None, f"expected a JSON object, got {type(obj).__name__}")
        yield line_no, obj
