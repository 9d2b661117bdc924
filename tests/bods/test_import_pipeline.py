"""The import's fast paths give exactly what the plain ones gave: reader process, prechecks, text scan, keys."""

import gc
import json
import multiprocessing
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.bods import BodsError, BodsFile, mapping, pipeline
from cases.bods.validation import statement_text_problem, text_problem
from cases.models import BodsStatement, Entity, ImportRun, Person, Relationship
from cases.services import bods_import
from cases.services.bods_import import BodsImportError, bods_import_file

from .builders import entity, person, relationship, snapshot, write_jsonl

BOTH = pytest.mark.parametrize("mode", ["inline", "reader process"])


@pytest.fixture
def mode_setter(monkeypatch):
    def set_mode(mode: str) -> None:
        monkeypatch.setattr(bods_import, "READER_PROCESS_MIN_BYTES", 1 << 62 if mode == "inline" else 0)

    return set_mode


def import_failing(path, exception=BodsImportError):
    before = snapshot()
    with pytest.raises(exception) as error:
        bods_import_file(path=path)
    assert snapshot() == before
    failed = ImportRun.objects.get(file_name=str(path))
    assert failed.status == ImportRun.Status.FAILED
    return error.value, failed


# -- COPY text lines -----------------------------------------------------------------------------


def escaped_value_by_value(values) -> bytes:
    """``copy_text_line`` without its fast path: each value escaped on its own."""
    escape = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
    texts = ["\\N" if v is None else "".join(escape.get(c, c) for c in str(v)) for v in values]
    return ("\t".join(texts) + "\n").encode()


@settings(max_examples=400, deadline=None)
@given(
    values=st.lists(
        st.none() | st.integers() | st.text(alphabet=st.sampled_from(["a", "\\", "\t", "\n", "\r", "N", "é"])),
        min_size=1,
        max_size=9,
    )
)
def test_copy_text_lines_are_escaped_as_value_by_value(values):
    assert mapping.copy_text_line(tuple(values)) == escaped_value_by_value(values)


# -- the text scan ------------------------------------------------------------------------------

TRICKY_TEXT = st.text(
    alphabet=st.sampled_from(["a", "u", "0", "d", "D", "8", "\\", '"', "\x00", "\ud800", "\udfff", "\ud83d", "é", "☃"]),
    max_size=12,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TRICKY_TEXT, children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES, ensure_ascii=st.booleans())
def test_scanning_the_text_finds_what_walking_the_statement_finds(value, ensure_ascii):
    """NUL and surrogates, escaped or literal, in keys or values: the scan never misses one."""
    text = json.dumps({"statementId": value, "nested": [value, {"k": value}]}, ensure_ascii=ensure_ascii)
    statement = json.loads(text)
    assert statement_text_problem(statement, text) == text_problem(statement)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "x\\u0000y"}',
        '{"a\\u0000": 1}',
        '{"a": "\\ud800"}',
        '{"a": "\\uDFFF"}',
        '{"a": "\\\\u0000"}',  # an escaped backslash: not a NUL, walked anyway and found clean
        '{"a": "\\ud83d\\ude00"}',  # a surrogate pair is one character: clean
        '{"a": "plain"}',
    ],
)
def test_scan_examples(text):
    statement = json.loads(text)
    assert statement_text_problem(statement, text) == text_problem(statement)


# -- the reader process ------------------------------------------------------------------------


@pytest.mark.django_db
def test_large_files_use_a_reader_process_that_is_gone_afterwards(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "f.jsonl", [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 60)])
    monkeypatch.setattr(bods_import, "READER_PROCESS_MIN_BYTES", path.stat().st_size)
    started = []
    original = pipeline.ReaderProcess.__init__

    def spy(self, *args, **kwargs):
        started.append(kwargs.get("name"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(pipeline.ReaderProcess, "__init__", spy)
    summary = bods_import_file(path=path)
    assert started == ["bods-import-reader"] and summary.statements_applied == 3
    assert not multiprocessing.active_children()


@pytest.mark.django_db
def test_sha256_is_the_same_either_way(tmp_path, mode_setter):
    path = write_jsonl(tmp_path / "f.jsonl", [entity("e1"), person("p1")], compress=True)
    digests = []
    for mode in ("inline", "reader process"):
        mode_setter(mode)
        digests.append(bods_import_file(path=path).sha256)
    assert digests[0] == digests[1] and len(digests[0]) == 64


@pytest.mark.django_db
def test_a_reader_process_that_dies_fails_the_import_and_keeps_nothing(tmp_path, mode_setter, monkeypatch):
    mode_setter("reader process")
    bods_import_file(path=write_jsonl(tmp_path / "old.jsonl", [entity("e-old")]))

    def die(*args, **kwargs):
        os._exit(3)

    monkeypatch.setattr(mapping.PreparedFile, "batches", die)  # runs in the reader process
    path = write_jsonl(tmp_path / "f.jsonl", [entity("e1"), person("p1")])
    error, failed = import_failing(path, RuntimeError)
    assert "reader process ended before the end of the file (exit code 3)" in str(error)
    assert failed.error.startswith("RuntimeError: the import's reader process ended")
    assert not multiprocessing.active_children()


@BOTH
@pytest.mark.django_db
def test_an_unexpected_reader_error_is_raised_as_itself(tmp_path, mode_setter, monkeypatch, mode):
    mode_setter(mode)
    original = BodsFile.with_raw_text

    def breaks_after_two(self):
        for number, item in enumerate(original(self)):
            if number == 2:
                raise ValueError("disk on fire")
            yield item

    monkeypatch.setattr(BodsFile, "with_raw_text", breaks_after_two)
    path = write_jsonl(tmp_path / "f.jsonl", [entity("e1"), person("p1"), entity("e2")])
    error, failed = import_failing(path, ValueError)
    assert str(error) == "disk on fire"
    assert failed.error == "ValueError: disk on fire"


@BOTH
@pytest.mark.django_db
def test_a_read_error_is_the_same_bods_error(tmp_path, mode_setter, mode):
    mode_setter(mode)
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps(entity("e1")) + "\n" + json.dumps(person("p1"))[:-5] + "\n")
    error, failed = import_failing(path)
    assert error.position is None
    assert "JSON after statement 1 (statement 2 cannot be read)" in str(error)
    assert failed.error == str(error)


@BOTH
@pytest.mark.django_db
def test_a_read_error_wins_over_a_problem_earlier_in_its_batch(tmp_path, mode_setter, mode):
    """A batch is read whole before it is checked, prepared in this process or not."""
    mode_setter(mode)
    bad = entity("e1", code="ZZ")
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps(bad) + "\n" + "{not json\n")
    error, _failed = import_failing(path)
    assert "cannot be read" in str(error) and "ZZ" not in str(error)


@BOTH
@pytest.mark.django_db
def test_a_mapping_crash_is_raised_when_the_batch_is_written(tmp_path, mode_setter, monkeypatch, mode):
    """An exception mapping a valid statement (a bug) fails the import as itself, after validation."""
    mode_setter(mode)

    def crash(values, details, date_param, labels):
        raise KeyError("boom")

    monkeypatch.setitem(mapping.DETAIL_MAPPERS, "person", crash)
    path = write_jsonl(tmp_path / "f.jsonl", [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 10)])
    error, failed = import_failing(path, KeyError)
    assert failed.error == "KeyError: 'boom'"
    # A validation problem anywhere in the batch still comes first, as when mapping ran after validation.
    path = write_jsonl(tmp_path / "g.jsonl", [person("p1"), entity("e1", code="ZZ")])
    error, _failed = import_failing(path)
    assert "statement 2" in str(error) and "'ZZ' is not an ISO 3166-1" in str(error)


@BOTH
@pytest.mark.django_db
def test_a_mapping_crash_in_a_skipped_statement_is_not_raised(tmp_path, mode_setter, monkeypatch, mode):
    mode_setter(mode)
    path = write_jsonl(tmp_path / "f.jsonl", [entity("e1"), person("p1")])
    bods_import_file(path=path)

    def crash(values, details, date_param, labels):
        raise KeyError("boom")

    monkeypatch.setitem(mapping.DETAIL_MAPPERS, "person", crash)
    summary = bods_import_file(path=path)
    assert summary.statements_skipped == 2


@BOTH
@pytest.mark.django_db
def test_a_check_that_crashes_is_raised_in_file_order(tmp_path, mode_setter, monkeypatch, mode):
    """A crash while checking a statement on its own surfaces where checking in file order meets it."""
    from cases.bods import validation

    mode_setter(mode)
    original = validation.jurisdiction_code_problem

    def crash_on_jp(code):
        if code == "JP":
            raise ZeroDivisionError("checking crashed")
        return original(code)

    monkeypatch.setattr(validation, "jurisdiction_code_problem", crash_on_jp)
    # An earlier statement's own problem comes first ...
    path = write_jsonl(tmp_path / "a.jsonl", [entity("e1", code="ZZ"), entity("e2", "Crash Co", code="JP")])
    error, _failed = import_failing(path)
    assert "statement 1" in str(error)
    # ... an earlier dangling reference does not: a crash propagates at once, as it always did.
    path = write_jsonl(
        tmp_path / "b.jsonl", [relationship("r1", "p-nowhere", "e0", 5), entity("e2", "Crash Co", code="JP")]
    )
    error, failed = import_failing(path, ZeroDivisionError)
    assert failed.error == "ZeroDivisionError: checking crashed"


@BOTH
@pytest.mark.django_db
def test_imports_match_across_modes_and_batch_sizes(tmp_path, mode_setter, monkeypatch, mode):
    """Many batches, records repeated across and within batches, updates and closes: as if applied one by one."""
    mode_setter(mode)
    monkeypatch.setattr(bods_import, "BATCH_SIZE", 3)
    statements = [entity("e0"), person("p0")]
    for n in range(1, 8):
        statements += [entity(f"e{n}", f"Co {n}"), relationship(f"r{n}", f"p{n - 1}", f"e{n}", 10 * n)]
        statements.append(person(f"p{n}", f"Person {n}"))
        statements.append(entity(f"e{n - 1}", f"Renamed {n - 1}", status="updated"))
    statements.append(relationship("r3", "p2", "e3", 30, status="closed"))
    bods_import_file(path=write_jsonl(tmp_path / "f.jsonl", statements))
    assert Entity.objects.get(external_id="e6").name == "Renamed 6"
    assert Entity.objects.get(external_id="e7").name == "Co 7"
    assert Relationship.objects.get(external_id="r3").is_closed
    assert Relationship.objects.get(external_id="r5").interested_person.external_id == "p4"
    assert list(Relationship.objects.order_by("external_id").values_list("interests__share_exact", flat=True)) == [
        10 * n for n in range(1, 8)
    ]
    assert BodsStatement.objects.count() == len(statements)


# -- primary keys and the collector --------------------------------------------------------------


@BOTH
@pytest.mark.django_db
def test_new_records_get_the_keys_the_table_would_have_given(tmp_path, mode_setter, mode):
    mode_setter(mode)
    Entity.objects.create(external_id="made-by-hand", name="By hand")
    bods_import_file(path=write_jsonl(tmp_path / "f.jsonl", [entity("e1"), entity("e2"), person("p1"), entity("e3")]))
    ids = list(Entity.objects.order_by("pk").values_list("external_id", flat=True))
    assert ids == ["made-by-hand", "e1", "e2", "e3"]  # ascending in file order, after the existing row
    pks = list(Entity.objects.order_by("pk").values_list("pk", flat=True))
    assert pks == sorted(pks) and len(set(pks)) == 4
    later = Entity.objects.create(external_id="later", name="Later")
    assert later.pk > max(pks)  # the table's own sequence moved on past the imported keys
    assert Person.objects.get().pk is not None


@pytest.mark.django_db
def test_garbage_collection_is_back_on_afterwards(tmp_path):
    assert gc.isenabled()
    bods_import_file(path=write_jsonl(tmp_path / "f.jsonl", [entity("e1")]))
    assert gc.isenabled()
    with pytest.raises(BodsImportError):
        bods_import_file(path=write_jsonl(tmp_path / "g.jsonl", [entity("e2", code="ZZ")]))
    assert gc.isenabled()


@pytest.mark.django_db
def test_validate_file_uses_the_same_checks(tmp_path):
    from cases.services.bods_import import validate_file

    good = write_jsonl(tmp_path / "good.jsonl", [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 50)])
    assert validate_file(path=good)[0] == 3
    bad = write_jsonl(tmp_path / "bad.jsonl", [entity("e1"), person("p1", name="Li\x00Wei")])
    with pytest.raises(BodsError, match="statement 2 .*NUL character"):
        validate_file(path=bad)


def test_receive_bytes_reads_what_send_bytes_sent_and_ends_as_recv_bytes_does():
    """Messages of any size (several pipe buffers, empty) come back whole; a closed pipe is ``EOFError``."""
    import threading

    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    messages = [b"", b"x", bytes(range(256)) * 20_000, b"end"]
    writer = threading.Thread(target=lambda: [send.send_bytes(message) for message in messages])
    writer.start()
    assert [bytes(pipeline.receive_bytes(receive)) for _ in messages] == messages
    writer.join()
    send.close()
    with pytest.raises(EOFError):
        pipeline.receive_bytes(receive)
    receive.close()
