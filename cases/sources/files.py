"""Open a source file as a byte or text stream, whether plain, gzipped or zipped, without loading it.

GLEIF publishes its golden copies as zip archives of one file; OpenSanctions as plain or
gzipped JSON lines. A zip member and a gzip stream are decompressed as they are read, so
memory stays constant whatever the file's size.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import SourceError


@contextmanager
def open_binary(path: str | Path) -> Iterator[IO[bytes]]:
    path = Path(path)
    with path.open("rb") as probe:
        magic = probe.read(4)
    if magic[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as stream:
            yield stream
    elif magic == b"PK\x03\x04":
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise SourceError(f"a zip archive must hold exactly one file, it holds {len(members)}", file=str(path))
            with archive.open(members[0]) as stream:
                yield stream
    else:
        with path.open("rb") as stream:
            yield stream


@contextmanager
def open_text(path: str | Path) -> Iterator[IO[str]]:
    """UTF-8 text (a byte-order mark is dropped), newlines as written (what the csv module wants)."""
    with open_binary(path) as stream:
        yield io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_character(path: str | Path) -> str:
    """The first non-blank character of the (decompressed) content: ``<`` for XML, ``{`` for JSON."""
    with open_binary(path) as stream:
        head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("ascii", "replace")
