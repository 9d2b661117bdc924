"""Streaming reader for BODS files: a JSON array or JSON Lines, optionally gzipped.

Files can be many gigabytes, so statements are parsed one at a time and never
loaded whole. JSON Lines, the usual format for large files, is split into lines;
a JSON array (or a JSON Lines file whose values span lines) is split into its
values by ``splitter``. Either way each statement is parsed on its own with
``orjson`` (3x faster than a streaming parser), falling back to the standard
library for the valid JSON orjson refuses (an unpaired ``\ud800`` escape, which
validation must see to reject), and its text is kept as published, so it can be
stored without encoding it again.

Share numbers are exact: ``int`` or ``Decimal``, never ``float`` (10 + 20 + 20
must be 50, not 50.000000000000001). Shares are the only numbers in the BODS 0.4
schema; a statement whose shares orjson read as floats is parsed again with
``json.loads(parse_float=Decimal)``. Numbers elsewhere (in properties the
schema does not know) may be floats in the parsed dict, but the raw text keeps
them exactly as published.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import BodsError
from .splitter import MAX_VALUE_BYTES, Piece, SplitError, split_array, split_values

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 1 << 16
LINES_READ_SIZE = 1 << 20  # JSON Lines are split a megabyte at a time


class HashingReader:
    """Wraps a binary file and hashes every byte read, so the file's sha256 costs no second read."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.sha256.update(chunk)
        self.bytes_read += len(chunk)
        return chunk


def _open_decompressed(raw: IO[bytes]) -> IO[bytes]:
    """Gzip is detected by its magic bytes, not the file name, because names lie."""
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def _first_significant_byte(stream: IO[bytes]) -> bytes:
    """Peek past whitespace (and a UTF-8 BOM) to tell a JSON array from JSON Lines."""
    head = stream.peek(READ_SIZE) if hasattr(stream, "peek") else b""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1]


class BodsFile:
    """One pass over a BODS file. Iterate it for ``(position, statement)`` pairs.

    ``sha256`` is the digest of the file as stored (compressed bytes if gzipped),
    complete once iteration has finished.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for position, statement, _raw in self.with_raw_text():
            yield position, statement

    def with_raw_text(self) -> Iterator[tuple[int, dict[str, Any], str | None]]:
        """``(position, statement, raw JSON text or None)``; the text is the statement as published."""
        try:
            raw_file = open(self.path, "rb")  # noqa: SIM115 - closed in finally
        except OSError as exc:
            raise BodsError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        self._hasher = HashingReader(raw_file)
        try:
            buffered = _BufferedPeek(self._hasher)
            stream = _open_decompressed(buffered)
            if stream is not buffered:
                stream = _BufferedPeek(stream)
            yield from self._statements(stream)
        finally:
            raw_file.close()

    @property
    def sha256(self) -> str:
        return self._hasher.sha256.hexdigest()

    def _statements(self, stream) -> Iterator[tuple[int, dict[str, Any], str | None]]:
        try:
            first = _first_significant_byte(stream)
        except (OSError, EOFError) as exc:
            raise BodsError(f"cannot read the file (corrupt or truncated gzip data): {exc}") from exc
        if first == b"[":
            items = _parsed(split_array(stream))
        elif first == b"{":
            items = _json_lines(stream)
        elif first == b"":
            raise BodsError("the file is empty: expected a JSON array of statements or JSON Lines")
        else:
            raise BodsError("not JSON: expected a JSON array of statements or JSON Lines (one statement per line)")
        position = 0
        try:
            for item, raw in items:
                position += 1
                if not isinstance(item, dict):
                    raise BodsError(f"a statement must be a JSON object, not {_json_type(item)}", position=position)
                yield position, item, raw
        except SplitError as exc:
            kind = "truncated JSON" if exc.truncated else "invalid JSON"
            raise BodsError(
                f"{kind} after statement {position} (statement {position + 1} cannot be read): "
                f"{exc.message} (byte {exc.offset:,} of the uncompressed file)"
            ) from exc
        except RecursionError as exc:  # the standard library's parser recurses per nesting level
            raise BodsError(
                f"invalid JSON after statement {position} (statement {position + 1} cannot be read): nested too deeply"
            ) from exc
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise BodsError(f"corrupt or truncated compressed data after statement {position}: {exc}") from exc


def _json_lines(stream) -> Iterator[tuple[Any, str]]:
    """One value per line; from the first line that is not one JSON value, ``split_values`` takes over.

    That line may be part of a value spread over several lines, several values
    on one line, or invalid JSON: the splitter cuts the first two into values
    and the third is reported with the same messages as in an array file.
    """
    tail = b""
    offset = 0  # of the current line in the uncompressed stream
    while True:
        chunk = stream.read(LINES_READ_SIZE)
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop() if chunk else b""
        for index, line in enumerate(lines):
            if line and not line.isspace():
                try:
                    value = _parse(line)
                except orjson.JSONDecodeError:
                    rest = b"\n".join(lines[index:]) + b"\n" + tail
                    yield from _parsed(split_values(_Prepended(rest, stream), offset))
                    return
                yield value, line.decode().strip()
            offset += len(line) + 1
        if len(tail) > MAX_VALUE_BYTES:
            raise SplitError(f"a line is longer than {MAX_VALUE_BYTES >> 20} MB", offset)
        if not chunk:
            return


def _parsed(pieces: Iterator[Piece]) -> Iterator[tuple[Any, str]]:
    for piece in pieces:
        try:
            value = _parse(piece.text)
        except orjson.JSONDecodeError as exc:
            truncated = exc.pos >= len(piece.text.rstrip())
            raise SplitError(exc.msg, piece.offset + exc.pos, truncated=truncated) from exc
        yield value, piece.text.decode().strip()


def _parse(text: bytes) -> Any:
    """One statement's value, with exact shares; ``orjson.JSONDecodeError`` if ``text`` is not one JSON value.

    orjson refuses some valid JSON (an unpaired \\uD800 escape): the standard
    library keeps it as written, so validation can reject the statement with a
    clear reason instead of the text being changed.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = _stdlib_value(text)
        if value is None:
            raise
    if isinstance(value, dict) and value.get("recordType") == "relationship" and _has_float_share(value):
        value = json.loads(text, parse_float=Decimal)
    return value


def _stdlib_value(text: bytes) -> Any | None:
    """The value by the standard library, or None if ``text`` is not one JSON value."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return None


def _has_float_share(statement: dict[str, Any]) -> bool:
    """True if orjson read a share as a float, which is not exact (shares are the schema's only numbers)."""
    details = statement.get("recordDetails")
    interests = details.get("interests") if isinstance(details, dict) else None
    if not isinstance(interests, list):
        return False
    for interest in interests:
        share = interest.get("share") if isinstance(interest, dict) else None
        if isinstance(share, dict):
            for value in share.values():
                if type(value) is float:
                    return True
    return False


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


class _BufferedPeek:
    """Minimal read/peek adapter: the parsers want ``read``, format detection wants ``peek``."""

    def __init__(self, raw):
        self._raw = raw
        self._buffer = b""

    def peek(self, size: int = 1) -> bytes:
        while len(self._buffer) < size:
            chunk = self._raw.read(READ_SIZE)
            if not chunk:
                break
            self._buffer += chunk
        return self._buffer

    def read(self, size: int = -1) -> bytes:
        if self._buffer:
            if size is None or size < 0:
                data, self._buffer = self._buffer + self._raw.read(), b""
                return data
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        return self._raw.read(size)


class _Prepended:
    """``read`` that returns ``head`` first, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream):
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data
