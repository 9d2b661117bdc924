"""The streaming reader: formats, gzip detection, exact numbers, unreadable files."""

from decimal import Decimal

import pytest

from cases.bods import BodsError, BodsFile

from .builders import entity, person, relationship, write_array, write_jsonl

STATEMENTS = [
    entity("e1"),
    person("p1"),
    person("p2"),
    person("p3"),
    relationship("r1", "p1", "e1", Decimal("10.1")),
    relationship("r2", "p2", "e1", Decimal("19.9")),
    relationship("r3", "p3", "e1", 20),
]


@pytest.mark.parametrize(
    ("writer", "compress", "name"),
    [
        (write_jsonl, False, "file.jsonl"),
        (write_array, False, "file.json"),
        (write_jsonl, True, "file.jsonl.gz"),
        (write_array, True, "misleading-name.json"),  # gzip is detected by magic bytes, not the name
    ],
)
def test_reads_every_format_in_order(tmp_path, writer, compress, name):
    path = writer(tmp_path / name, STATEMENTS, compress=compress)
    read = list(BodsFile(path))
    assert [position for position, _ in read] == list(range(1, len(STATEMENTS) + 1))
    assert [s["statementId"] for _, s in read] == [s["statementId"] for s in STATEMENTS]


def test_numbers_are_exact_decimals(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", STATEMENTS)
    shares = [
        s["recordDetails"]["interests"][0]["share"]["exact"]
        for _, s in BodsFile(path)
        if s["recordType"] == "relationship"
    ]
    assert shares == [Decimal("10.1"), Decimal("19.9"), 20]
    assert isinstance(shares[0], Decimal)
    assert sum(shares) == 50  # exactly, where floats give 50.00000000000001 or 49.99999999999999


def test_sha256_of_the_stored_bytes(tmp_path):
    import hashlib

    path = write_jsonl(tmp_path / "f.jsonl.gz", STATEMENTS, compress=True)
    reader = BodsFile(path)
    list(reader)
    assert reader.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"hello world", "not JSON: expected a JSON array of statements or JSON Lines"),
        (b"", "the file is empty"),
        (b'[{"a": 1}, {"b": ', "truncated JSON after statement 1 (statement 2 cannot be read)"),
        (b'{"a": 1}\n{"b": tru}\n', "invalid JSON after statement 1 (statement 2 cannot be read)"),
        (b"[1, 2]", "statement 1: a statement must be a JSON object, not a number"),
    ],
)
def test_unreadable_files(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(BodsError) as error:
        list(BodsFile(path))
    assert expected in str(error.value)


def test_truncated_gzip(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl.gz", STATEMENTS * 30, compress=True)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BodsError, match="corrupt or truncated"):
        list(BodsFile(path))
