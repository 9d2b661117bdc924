"""The JSON splitter: every value of an array or a value stream comes back byte for byte, whatever the chunking."""

import gzip
import io
import json
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.bods import BodsError, BodsFile
from cases.bods import splitter as splitter_module
from cases.bods.splitter import MAX_NESTING, SplitError, split_array, split_values


class TrickleStream:
    """Returns at most ``sizes[i]`` bytes per read, so values, strings and escapes straddle chunk boundaries."""

    def __init__(self, data: bytes, sizes: list[int]):
        self._data = io.BytesIO(data)
        self._sizes = sizes or [1]
        self._reads = 0

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self._reads % len(self._sizes)]
        self._reads += 1
        return self._data.read(min(size, step) if size and size > 0 else step)


# Strings heavy in the characters the splitter must not mistake for structure.
tricky_text = st.text(alphabet=st.sampled_from(list('[]{},:"\\ab \n\t\u00e9\u202e\U0001f600')), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=20,
)
containers = st.one_of(st.lists(json_values, max_size=3), st.dictionaries(tricky_text, json_values, max_size=3))
chunk_sizes = st.lists(st.integers(1, 40), min_size=1, max_size=8)


def _dump(value, indent, ensure_ascii) -> bytes:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii).encode()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    values=st.lists(json_values, max_size=6),
    indent=st.sampled_from([None, 0, 2]),
    ensure_ascii=st.booleans(),
    sizes=chunk_sizes,
)
def test_array_elements_come_back_exactly(values, indent, ensure_ascii, sizes):
    data = _dump(values, indent, ensure_ascii)
    pieces = list(split_array(TrickleStream(data, sizes)))
    assert [json.loads(piece.text) for piece in pieces] == values
    for piece in pieces:  # each offset points at the piece's own bytes
        assert data[piece.offset : piece.offset + len(piece.text)] == piece.text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    values=st.lists(containers, max_size=6),
    separators=st.lists(st.sampled_from(["", " ", "\n", "\r\n", "\n\n  "]), min_size=1),
    indent=st.sampled_from([None, 2]),
    sizes=chunk_sizes,
)
def test_value_stream_comes_back_exactly(values, separators, indent, sizes):
    texts = [_dump(value, indent, False) for value in values]
    data = b"".join(text + separators[i % len(separators)].encode() for i, text in enumerate(texts))
    pieces = list(split_values(TrickleStream(data, sizes)))
    assert [json.loads(piece.text) for piece in pieces] == values


@pytest.mark.parametrize("run", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
def test_backslash_runs_across_chunk_boundaries(run, chunk):
    value = {"k": "\\" * run + '"]},' + "\\" * run}
    data = json.dumps([value, value]).encode()
    assert [orjson.loads(p.text) for p in split_array(TrickleStream(data, [chunk]))] == [value, value]


def test_nesting_limit_is_orjsons():
    deepest = b"[" * MAX_NESTING + b"]" * MAX_NESTING
    assert orjson.loads(deepest)  # orjson takes it, so the splitter must too
    assert [p.text for p in split_array(io.BytesIO(b"[" + deepest + b"]"))] == [deepest]
    too_deep = b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1)
    with pytest.raises(SplitError, match=f"nested more than {MAX_NESTING} levels deep"):
        list(split_array(io.BytesIO(b"[{}, " + too_deep + b"]")))


def test_huge_nesting_needs_no_memory_per_level():
    """100 000 levels deep in 200 KB: refused at once (ijson needed O(depth²) memory here)."""
    depth = 100_000
    data = b'[{"a": ' + b"[" * depth + b"]" * depth + b"}]"
    pieces = split_array(io.BytesIO(data))
    with pytest.raises(SplitError) as error:
        list(pieces)
    assert error.value.offset == 7 + MAX_NESTING - 1  # the '[' that makes the statement 1025 levels deep


def test_a_value_larger_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(splitter_module, "MAX_VALUE_BYTES", 1000)
    monkeypatch.setattr(splitter_module, "CHUNK_SIZE", 100)
    data = json.dumps([{"a": "x" * 50}, {"b": "y" * 5000}]).encode()
    pieces = split_array(io.BytesIO(data))
    assert orjson.loads(next(pieces).text) == {"a": "x" * 50}
    with pytest.raises(SplitError, match="larger than"):
        next(pieces)


@pytest.mark.parametrize(
    ("data", "message", "truncated"),
    [
        (b'[{"a": 1}', "ends before the array is closed", True),
        (b'[{"a": 1}] {"b": 2}', "unexpected data after the closing ']'", False),
        (b'[{"a": 1}}', "closed by '}' instead of ']'", False),
        (b'[{"a": 1},]', "expected a value", False),
        (b'[, {"a": 1}]', "expected a value", False),
    ],
)
def test_broken_array_structure(data, message, truncated):
    with pytest.raises(SplitError, match=message) as error:
        list(split_array(io.BytesIO(data)))
    assert error.value.truncated is truncated


@pytest.mark.parametrize("data", [b"[]", b"[ \n ]", b"  [\n]\n\n"])
def test_empty_array_has_no_values(data):
    assert list(split_array(io.BytesIO(data.lstrip()))) == []


# -- through the reader: array files and JSON Lines now share one parser ---------------------------


def _array_file(tmp_path, text: str):
    path = tmp_path / "statements.json"
    path.write_text(text)
    return path


def test_array_statements_keep_their_published_text(tmp_path):
    statements = [{"statementId": "s1", "recordDetails": {"name": 'A [b] {c}, "d"'}}, {"statementId": "s2"}]
    path = _array_file(tmp_path, json.dumps(statements, indent=2))
    read = list(BodsFile(path).with_raw_text())
    assert [(position, value) for position, value, _ in read] == [(1, statements[0]), (2, statements[1])]
    assert [json.loads(raw) for _, _, raw in read] == statements
    assert read[1][2] == '{\n    "statementId": "s2"\n  }'


def test_error_names_the_statement_and_byte(tmp_path):
    path = _array_file(tmp_path, '[{"statementId": "s1"}, {"statementId": tru}]')
    with pytest.raises(BodsError) as error:
        list(BodsFile(path))
    assert "invalid JSON after statement 1 (statement 2 cannot be read)" in error.value.message
    assert "byte 40 " in error.value.message


def test_unpaired_surrogate_is_kept_for_validation_to_reject(tmp_path):
    path = _array_file(tmp_path, '[{"statementId": "s1", "name": "Bad \\ud800 Ltd"}]')
    [(_, statement)] = list(BodsFile(path))
    assert statement["name"] == "Bad \ud800 Ltd"  # not "Bad ? Ltd": validation sees the real text


def test_shares_in_array_files_are_exact(tmp_path):
    statement = {
        "recordType": "relationship",
        "recordDetails": {"interests": [{"share": {"exact": 10.1}}]},
    }
    path = _array_file(tmp_path, json.dumps([statement]))
    [(_, read)] = list(BodsFile(path))
    assert str(read["recordDetails"]["interests"][0]["share"]["exact"]) == "10.1"


@pytest.mark.parametrize("seed", range(5))
def test_random_chunking_of_the_demo_file(seed):
    """The demo file's statements as one array, split at random chunk sizes, come back line for line."""
    demo = Path(__file__).resolve().parents[2] / "demo" / "demo.bods.jsonl.gz"
    lines = [line for line in gzip.decompress(demo.read_bytes()).split(b"\n") if line.strip()]
    data = b"[" + b",\n".join(lines) + b"]"
    sizes = random.Random(seed).choices(range(1, 5000), k=50)
    assert [piece.text.strip() for piece in split_array(TrickleStream(data, sizes))] == lines
