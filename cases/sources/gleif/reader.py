"""Stream GLEIF records from the golden-copy CSV or XML, zipped or not, as flat dicts.

Both formats yield the same shape: a dict keyed by the golden-copy CSV's dotted column
names (``LEI``, ``Entity.LegalName``, ``Entity.LegalAddress.Country``, …). An XML record
is flattened into the same names by the path of local element names below the record
element, so one mapper serves both formats. Repeated XML elements are numbered
(``Entity.OtherEntityNames.OtherEntityName.2``) as the CSV numbers its repeated columns.

XML is read with lxml's ``iterparse`` restricted to the record tag, each record cleared
(and its finished siblings dropped) once flattened: memory stays constant on the
multi-gigabyte concatenated files. lxml rather than the standard library because it
parses about twice as fast and reports the line of every record and of a syntax error.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from lxml import etree

from ..errors import SourceError
from ..files import first_character, open_binary, open_text
from ..prepared import batch_sizes

#: XML record element per file kind (namespaces: LEI-CDF 3.1, RR-CDF 2.1, Reporting Exceptions 2.1).
RECORD_TAGS = {
    "LEIData": "LEIRecord",
    "RelationshipData": "RelationshipRecord",
    "ReportingExceptionData": "Exception",
}
#: A CSV header column that tells the kind of file it is.
CSV_MARKERS = {"Entity.LegalName": "LEIData", "Relationship.StartNode.NodeID": "RelationshipData"}
CSV_EXCEPTION_MARKER = "ExceptionCategory"


#: Names GLEIF gives its delta files (the golden copy itself is ``…-golden-copy.csv/.xml``).
_DELTA_NAME = re.compile(r"last-day|intra-day|last-week|last-month|delta", re.IGNORECASE)


@dataclass(frozen=True)
class GleifFile:
    path: Path
    kind: str  # LEIData, RelationshipData or ReportingExceptionData
    format: str  # "xml" or "csv"
    full: bool = False  # a complete golden copy (what it lacks has gone), not a delta


def is_full_name(path: Path) -> bool:
    """A golden-copy file name that is not a delta's: what a CSV (which has no header block) can tell."""
    name = path.name.lower()
    return "golden-copy" in name and not _DELTA_NAME.search(name)


#: The header's ``FileContentEnum`` code list (LEI-CDF 3.1 has the published five; RR-CDF 2.1 adds
#: the ``*_INTERNAL`` ones, files an LOU or GLEIF keeps for its own use).
FILE_CONTENT_CODES = frozenset(
    {
        "LOU_FULL_PUBLISHED",
        "LOU_DELTA_PUBLISHED",
        "GLEIF_FULL_PUBLISHED",
        "GLEIF_DELTA_PUBLISHED",
        "QUERY_RESPONSE",
        "LOU_FULL_INTERNAL",
        "LOU_DELTA_INTERNAL",
        "GLEIF_FULL_INTERNAL",
        "GLEIF_DELTA_INTERNAL",
    }
)
#: The one content of which every published record of the whole system is in the file, so that a
#: record it lacks has gone. An LOU's full file holds only the records that LOU manages (another
#: LOU's are simply not in it), a query response only what matched, an internal file is not the
#: publication, and a delta only what changed: none of them may close anything.
COMPLETE_FILE_CONTENT = "GLEIF_FULL_PUBLISHED"


def _xml_file_content(path: Path) -> str:
    """The header's ``FileContent`` code, or "" if the header has none; an unknown code is rejected."""
    with open_binary(path) as stream:
        try:
            for _event, element in etree.iterparse(stream, events=("end",)):
                name = etree.QName(element).localname
                if name == "FileContent":
                    code = (element.text or "").strip()
                    if code not in FILE_CONTENT_CODES:
                        raise SourceError(
                            f"unknown FileContent {code!r} (expected one of {', '.join(sorted(FILE_CONTENT_CODES))})",
                            file=str(path),
                            line=element.sourceline,
                            field="FileContent",
                        )
                    return code
                if name in RECORD_TAGS.values():
                    return ""  # the records began: no header said
        except etree.XMLSyntaxError:
            return ""  # reading the records reports it, with its line
    return ""


def detect(path: str | Path) -> GleifFile:
    """Which GLEIF file this is, from its content (names of downloaded files vary)."""
    path = Path(path)
    if first_character(path) == "<":
        with open_binary(path) as stream:
            try:
                for _event, element in etree.iterparse(stream, events=("start",)):
                    root = etree.QName(element).localname
                    break
                else:  # pragma: no cover - iterparse raises on an empty document
                    raise SourceError("the XML document is empty", file=str(path))
            except etree.XMLSyntaxError as exc:
                raise SourceError(f"broken XML: {exc.msg}", file=str(path), line=exc.lineno) from exc
        if root not in RECORD_TAGS:
            raise SourceError(f"unknown GLEIF XML root element {root!r}", file=str(path), line=1)
        content = _xml_file_content(path)
        full = content == COMPLETE_FILE_CONTENT if content else is_full_name(path)
        return GleifFile(path, root, "xml", full)
    with open_text(path) as text:
        header = next(csv.reader(text), [])
    for column, kind in CSV_MARKERS.items():
        if column in header:
            return GleifFile(path, kind, "csv", is_full_name(path))
    if CSV_EXCEPTION_MARKER in header:
        return GleifFile(path, "ReportingExceptionData", "csv", is_full_name(path))
    raise SourceError(
        "not a GLEIF golden-copy file (no Entity.LegalName, Relationship.StartNode.NodeID or ExceptionCategory column)",
        file=str(path),
        line=1,
    )


def read_records(
    source: GleifFile, *, share: tuple[int, int, int] | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, flat record)`` for every record of the file, in file order.

    ``share`` ``(index, count, size)`` (CSV only): only the records of batches ``index``,
    ``index + count``, … of the file's batches (sized by ``batch_sizes(size)``, as ``gleif_records`` batches
    them) — one reader process's share of it.
    """
    if source.format == "csv":
        yield from _csv_records(source.path, share)
    elif share is not None:
        raise ValueError("only a CSV file is read in shares")
    else:
        yield from _xml_records(source.path, RECORD_TAGS[source.kind])


def _csv_records(path: Path, share: tuple[int, int, int] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as ``csv.DictReader`` gives them (blank lines skipped), empty values left out.

    ``csv.reader`` and a ``zip`` with the header: ``DictReader`` is a Python layer over the same
    reader and cost more than the parsing itself. Rows outside a ``share`` are parsed (the CSV
    must be read to find where records end) but not built into dicts or checked.
    """
    header: list[str] = []
    for line, row in _csv_rows(path, share, header):
        yield line, {key: value for key, value in zip(header, row, strict=False) if value}


def csv_header(path: Path) -> list[str]:
    """The CSV file's header row ([] for an empty file)."""
    with open_text(path) as text:
        try:
            return next(csv.reader(text), [])
        except csv.Error as exc:
            raise SourceError(f"broken CSV: {exc}", file=str(path), line=1) from exc


def read_rows(
    source: GleifFile, header: list[str], *, share: tuple[int, int, int] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """``read_records`` of a CSV file as ``(line, row)``, the row as ``csv.reader``'s list of the file's values.

    ``header`` is the file's ``csv_header``, for the caller to find columns by position; the rows
    are those ``read_records`` makes dicts of (same lines, same checks), none longer than it.
    """
    if source.format != "csv":
        raise ValueError("only a CSV file is read as rows")
    return _csv_rows(source.path, share, list(header), expected=True)


def _csv_rows(
    path: Path, share: tuple[int, int, int] | None, header: list[str], *, expected: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` of the records (blank lines skipped), rows longer than the header rejected.

    ``header`` is filled with the header row before the first record (or, ``expected``, is the
    header the file must have). Another reader's batches of a ``share`` are skipped a batch at a
    time inside the C iterators (``islice`` over ``filter``, which drops blank lines as the loop
    below does): parsed, as they must be to find where records end, but not looked at.
    """
    index, count, size = share or (0, 1, 1)
    with open_text(path) as text:
        reader = csv.reader(text)
        try:
            first = next(reader, [])
            if expected and first != header:  # not the file the header was read from
                raise RuntimeError(f"{path}: the header changed while the file was read")
            header[:] = first
            width = len(header)
            records = filter(None, reader)
            if count == 1:
                for row in records:
                    if len(row) > width:
                        raise SourceError("more values than header columns", file=str(path), line=reader.line_num)
                    yield reader.line_num, row
                return
            skip = deque(maxlen=0).extend
            for batch, batch_size in enumerate(batch_sizes(size)):
                if batch % count != index:
                    skip(islice(records, batch_size))
                    continue
                taken = 0
                for row in islice(records, batch_size):
                    taken += 1
                    if len(row) > width:
                        raise SourceError("more values than header columns", file=str(path), line=reader.line_num)
                    yield reader.line_num, row
                if taken < batch_size:
                    return
        except csv.Error as exc:
            raise SourceError(f"broken CSV: {exc}", file=str(path), line=reader.line_num) from exc


def _xml_records(path: Path, record_tag: str) -> Iterator[tuple[int, dict[str, str]]]:
    with open_binary(path) as stream:
        records = etree.iterparse(stream, events=("end",), tag=f"{{*}}{record_tag}", huge_tree=True)
        try:
            for _event, element in records:
                line = element.sourceline or 0
                flat: dict[str, str] = {}
                _flatten(element, "", flat)
                element.clear(keep_tail=False)
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
                yield line, flat
        except etree.XMLSyntaxError as exc:
            raise SourceError(f"broken XML: {exc.msg}", file=str(path), line=exc.lineno) from exc


def _flatten(element, prefix: str, out: dict[str, str]) -> None:
    children = [child for child in element if isinstance(child.tag, str)]
    counts: dict[str, int] = {}
    for child in children:
        name = etree.QName(child).localname
        counts[name] = counts.get(name, 0) + 1
    seen: dict[str, int] = {}
    for child in children:
        name = etree.QName(child).localname
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}.{seen[name]}"
        key = f"{prefix}{name}"
        if len(child):
            _flatten(child, key + ".", out)
        elif child.text and child.text.strip():
            out[key] = child.text.strip()
