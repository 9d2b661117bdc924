"""Finds where each top-level JSON value of a stream starts and ends, without parsing it.

A BODS file that is one JSON array can be many gigabytes, so it cannot be parsed
whole. A streaming parser (ijson) was used before and failed hostile input in two
ways: its C backend turns an unpaired ``\\ud800`` escape into "?" before validation
can see it (a statement silently changed), and it builds a prefix string per event
whose length grows with the nesting depth, so a 200 KB file nested 100 000 levels
deep needs tens of gigabytes. This module only splits: it tracks strings, escapes
and bracket depth over each chunk with numpy and hands back the raw bytes of every
value, which the reader parses with the same code as a JSON Lines statement. Memory
is bounded by one chunk plus one value, whatever the depth.

The splitter does not validate JSON; it finds boundaries. A malformed value comes
out as a piece the parser then rejects, with the piece's byte offset for the error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

MAX_NESTING = 1024  # orjson's own limit, so array files and JSON Lines accept the same statements
MAX_VALUE_BYTES = 64 << 20  # one statement; the largest real BODS statements are a few kilobytes
CHUNK_SIZE = 1 << 20

_QUOTE = ord('"')
_BACKSLASH = ord("\\")
_COMMA = ord(",")
_CLOSE_ARRAY = ord("]")
_STRUCTURAL = np.zeros(256, dtype=bool)
_STRUCTURAL[list(b"[]{},")] = True
_DEPTH_CHANGE = np.zeros(256, dtype=np.int64)
_DEPTH_CHANGE[list(b"[{")] = 1
_DEPTH_CHANGE[list(b"]}")] = -1


@dataclass(frozen=True)
class Piece:
    """The raw bytes of one top-level value and the stream offset of its first byte."""

    text: bytes
    offset: int


class SplitError(ValueError):
    """The stream's structure is broken where no single value can carry the blame."""

    def __init__(self, message: str, offset: int, *, truncated: bool = False):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.truncated = truncated


class _Scanner:
    """String, escape and depth state carried from one chunk to the next."""

    def __init__(self) -> None:
        self.in_string = False
        self.backslash_run = 0  # backslashes that ended the previous chunk
        self.depth = 0

    def structure(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of brackets, braces and commas outside strings, and the depth after each."""
        quotes = np.flatnonzero(data == _QUOTE)
        backslashes = data == _BACKSLASH
        if quotes.size and (self.backslash_run or backslashes.any()):
            quotes = quotes[~self._escaped(quotes, backslashes)]
        self._carry_backslashes(backslashes)
        candidates = np.flatnonzero(_STRUCTURAL[data])
        quotes_before = np.searchsorted(quotes, candidates)
        outside = ((quotes_before + self.in_string) & 1) == 0
        positions = candidates[outside]
        depths = self.depth + np.cumsum(_DEPTH_CHANGE[data[positions]])
        self.in_string = bool((self.in_string + quotes.size) & 1)
        if depths.size:
            self.depth = int(depths[-1])
        return positions, depths

    def _escaped(self, quotes: np.ndarray, backslashes: np.ndarray) -> np.ndarray:
        """A quote is escaped when an odd run of backslashes precedes it (the run may start in the last chunk)."""
        index = np.arange(backslashes.size)
        last_other = np.maximum.accumulate(np.where(backslashes, -1, index))
        before = quotes - 1
        last_before = np.where(before >= 0, last_other[np.maximum(before, 0)], -1)
        run = before - last_before + np.where(last_before == -1, self.backslash_run, 0)
        return (run & 1) == 1

    def _carry_backslashes(self, backslashes: np.ndarray) -> None:
        others = np.flatnonzero(~backslashes)
        if others.size:
            self.backslash_run = int(backslashes.size - 1 - others[-1])
        else:
            self.backslash_run += int(backslashes.size)


def split_array(stream: IO[bytes]) -> Iterator[Piece]:
    """The elements of the JSON array that ``stream`` holds (its first significant byte is ``[``)."""
    return _Splitter(stream, array=True).pieces()


def split_values(stream: IO[bytes], offset: int = 0) -> Iterator[Piece]:
    """Concatenated JSON values (objects or arrays), separated by whitespace or nothing."""
    return _Splitter(stream, array=False, offset=offset).pieces()


class _Splitter:
    """Cuts the stream at value boundaries.

    In an array, a value ends at a comma one level deep or at the bracket that
    closes the array; in a stream of values, at the bracket that brings the
    depth back to zero. Bytes of a value that spans chunks wait in ``pending``.
    """

    def __init__(self, stream: IO[bytes], *, array: bool, offset: int = 0):
        self.stream = stream
        self.array = array
        self.top = 1 if array else 0  # depth at which values sit
        self.scanner = _Scanner()
        self.pending = bytearray()
        self.value_offset = offset
        self.chunk_offset = offset
        self.started = not array  # an array's values start after its opening bracket
        self.closed = False  # the array's closing bracket has been seen
        self.emitted = False

    def pieces(self) -> Iterator[Piece]:
        while chunk := self.stream.read(CHUNK_SIZE):
            yield from self._chunk(chunk)
            self.chunk_offset += len(chunk)
        yield from self._end()

    def _chunk(self, chunk: bytes) -> Iterator[Piece]:
        if self.closed:
            self._check_trailing(chunk, 0)
            return
        data = np.frombuffer(chunk, dtype=np.uint8)
        positions, depths = self.scanner.structure(data)
        too_deep = np.flatnonzero(depths > MAX_NESTING + self.top)
        deepest_allowed = int(too_deep[0]) if too_deep.size else positions.size
        too_deep_at = int(positions[deepest_allowed]) if too_deep.size else None
        positions, depths = positions[:deepest_allowed], depths[:deepest_allowed]
        start = 0
        if not self.started and positions.size:  # the array's opening bracket
            self.started, start = True, int(positions[0]) + 1
            self.value_offset = self.chunk_offset + start
            positions, depths = positions[1:], depths[1:]
        ends = self._boundaries(data[positions], depths)
        for position, depth in zip(positions[ends].tolist(), depths[ends].tolist(), strict=True):
            end = position if self.array else position + 1
            self.closed = self.array and depth <= 0
            yield from self._emit(chunk, start, end, closing_byte=chunk[position])
            start, self.value_offset = position + 1, self.chunk_offset + position + 1
            if self.closed:
                self._check_trailing(chunk, start)
                return
        if too_deep_at is not None:
            raise SplitError(f"nested more than {MAX_NESTING} levels deep", self.chunk_offset + too_deep_at)
        self.pending += chunk[start:]
        if len(self.pending) > MAX_VALUE_BYTES:
            raise SplitError(f"a statement is larger than {MAX_VALUE_BYTES >> 20} MB", self.value_offset)

    def _boundaries(self, bytes_at: np.ndarray, depths: np.ndarray) -> np.ndarray:
        """Which structural bytes end a value (see the class docstring)."""
        if self.array:
            return ((depths == 1) & (bytes_at == _COMMA)) | (depths <= 0)
        return (depths <= 0) & (bytes_at != _COMMA)

    def _emit(self, chunk: bytes, start: int, end: int, *, closing_byte: int) -> Iterator[Piece]:
        text = bytes(self.pending) + chunk[start:end] if self.pending else chunk[start:end]
        self.pending.clear()
        if self.array and not text.strip():
            if self.closed and not self.emitted:
                return  # [] or [ ]: an empty array
            raise SplitError("expected a value before ',' or ']'", self.value_offset + len(text))
        self.emitted = True
        yield Piece(text, self.value_offset)
        if self.closed and closing_byte != _CLOSE_ARRAY:
            raise SplitError("the array is closed by '}' instead of ']'", self.chunk_offset + end)

    def _check_trailing(self, chunk: bytes, start: int) -> None:
        rest = chunk[start:]
        if rest.strip():
            skipped = len(rest) - len(rest.lstrip())
            raise SplitError("unexpected data after the closing ']' of the array", self.chunk_offset + start + skipped)

    def _end(self) -> Iterator[Piece]:
        if self.pending.strip():
            yield Piece(bytes(self.pending), self.value_offset)
        if self.array and not self.closed:
            raise SplitError("the file ends before the array is closed", self.chunk_offset, truncated=True)
