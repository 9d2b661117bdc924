"""PostgreSQL: a batch's writes in a thread while the next batch is checked give what one pass gives.

The import must be in a transaction of its own for its checks to read from a second
connection, so these tests commit (``transaction=True``) rather than run in the test's
transaction.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from cases.models import (
    BodsStatement,
    Entity,
    EntityIdentifier,
    ImportRun,
    Interest,
    Jurisdiction,
    Person,
    Relationship,
)
from cases.services import bods_import
from cases.services.bods_import import BodsImportError, bods_import_file
from cases.services.bulk_sql import TableWriter

from .builders import entity, person, relationship, snapshot, write_jsonl

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="writes overlap on PostgreSQL only")


@pytest.fixture
def overlapped(monkeypatch):
    """Count the imports that overlap their writes; batches of three statements."""
    monkeypatch.setattr(bods_import, "BATCH_SIZE", 3)
    started = []
    original = bods_import._OverlappedWrites.__init__

    def spy(self, *args, **kwargs):
        started.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(bods_import._OverlappedWrites, "__init__", spy)
    return started


def many_batches() -> list[dict]:
    """Records made, updated and referred to across batches; a subdivision; a relationship only closed later."""
    statements = [entity("e0"), person("p0")]
    for n in range(1, 8):
        statements += [entity(f"e{n}", f"Co {n}"), relationship(f"r{n}", f"p{n - 1}", f"e{n}", 10 * n)]
        statements.append(person(f"p{n}", f"Person {n}"))
        statements.append(entity(f"e{n - 1}", f"Renamed {n - 1}", status="updated"))
    statements.append(entity("e-sub", "Shanghai Co", code="CN-SH"))
    statements += [person("p-x"), person("p-y"), person("p-z")]  # r3 alone in a batch of its own
    statements.append(relationship("r3", "p2", "e3", 30, status="closed"))
    return statements


def content() -> dict:
    """The imported rows without what differs between two runs of the same file (keys, timestamps, run)."""
    drop = {"id", "created_at", "updated_at", "import_run_id"}

    def rows(model, **refs):
        names = {field: dict(target.objects.values_list("pk", "external_id")) for field, target in refs.items()}
        found = []
        for row in model.objects.values():
            found.append({k: (names[k].get(v) if k in names else v) for k, v in row.items() if k not in drop})
        return sorted(found, key=repr)

    return {
        "entities": rows(Entity),
        "persons": rows(Person),
        "relationships": rows(
            Relationship, subject_id=Entity, interested_entity_id=Entity, interested_person_id=Person
        ),
        "interests": rows(Interest, relationship_id=Relationship),
        "identifiers": rows(EntityIdentifier, entity_id=Entity),
        "statements": rows(BodsStatement),
        "jurisdictions": sorted(Jurisdiction.objects.values_list("code", flat=True)),
    }


def undo(run_id: int, kept: set[str], jurisdictions: list[str]) -> None:
    BodsStatement.objects.filter(import_run_id=run_id).delete()
    for model in (Relationship, Entity, Person):
        model.objects.exclude(external_id__in=kept).delete()
    Jurisdiction.objects.exclude(code__in=jurisdictions).delete()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_overlapped_writes_give_what_one_pass_gives(tmp_path, overlapped, monkeypatch):
    Entity.objects.create(external_id="e-before", name="Already here")  # referred to from the file
    statements = [*many_batches(), relationship("r-old", "e-before", "e1", 5)]
    path = write_jsonl(tmp_path / "f.jsonl", statements)
    before = content()
    monkeypatch.setattr(bods_import, "OVERLAP_WRITES", False)
    single = bods_import_file(path=path)
    single_content = content()
    assert not overlapped
    undo(single.import_run_id, kept={"e-before"}, jurisdictions=before["jurisdictions"])
    assert content() == before
    monkeypatch.setattr(bods_import, "OVERLAP_WRITES", True)
    overlap = bods_import_file(path=path)
    assert len(overlapped) == 1
    assert content() == single_content
    assert overlap.counts == single.counts
    assert overlap.statements_applied == single.statements_applied == len(statements)
    names = dict(Entity.objects.values_list("pk", "external_id"))
    assert {names[pk] for pk in overlap.affected_entity_ids} == {f"e{n}" for n in range(8)} | {"e-sub"}
    assert Relationship.objects.get(external_id="r3").is_closed
    # The writer thread is gone and the import's connection is this thread's alone again.
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("bods-import-writer")]
    assert connections["default"].allow_thread_sharing is False


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_affected_entities_include_the_subject_of_a_relationship_closed_in_a_later_batch(tmp_path, overlapped):
    statements = many_batches()
    summary = bods_import_file(path=write_jsonl(tmp_path / "f.jsonl", statements))
    assert overlapped
    subject = Relationship.objects.get(external_id="r3").subject_id
    assert subject in summary.affected_entity_ids
    assert summary.affected_entity_ids == set(Entity.objects.values_list("pk", flat=True))


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_error_in_a_later_batch_while_a_write_is_in_flight_rolls_everything_back(tmp_path, overlapped, monkeypatch):
    bods_import_file(path=write_jsonl(tmp_path / "old.jsonl", [entity("e-old")]))
    before = snapshot()
    in_flight = threading.Event()
    original = TableWriter.insert_copy_text

    def slow_copy(self, *args, **kwargs):
        in_flight.set()
        time.sleep(0.2)  # the next batch is checked, and fails, while this write is still going
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TableWriter, "insert_copy_text", slow_copy)
    statements = [*many_batches()[:9], relationship("r-bad", "p-nowhere", "e1", 5)]
    path = write_jsonl(tmp_path / "f.jsonl", statements)
    with pytest.raises(BodsImportError) as error:
        bods_import_file(path=path)
    assert in_flight.is_set() and overlapped
    assert "dangling reference to 'p-nowhere'" in str(error.value) and error.value.position == len(statements)
    assert snapshot() == before
    assert ImportRun.objects.get(file_name=str(path)).status == ImportRun.Status.FAILED
    assert not connection.in_atomic_block and connection.get_autocommit()
    bods_import_file(path=write_jsonl(tmp_path / "next.jsonl", [entity("e-next")]))  # the connection is fine
    assert Entity.objects.filter(external_id="e-next").exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_failing_write_is_reported_before_a_later_batchs_problem(tmp_path, overlapped, monkeypatch):
    """One pass would have stopped at the write: its error is the one raised, not the next batch's."""
    before = snapshot()
    calls = []
    original = TableWriter.insert_copy_text

    def failing_second_copy(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            time.sleep(0.2)  # long enough for the next batch's check to fail first
            raise ZeroDivisionError("the write failed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TableWriter, "insert_copy_text", failing_second_copy)
    statements = [entity("e1"), entity("e2"), entity("e3"), entity("e4"), entity("e5"), entity("e6")]
    statements.append(relationship("r-bad", "p-nowhere", "e1", 5))  # the third batch fails its check
    path = write_jsonl(tmp_path / "f.jsonl", statements)
    with pytest.raises(ZeroDivisionError, match="the write failed"):
        bods_import_file(path=path)
    assert snapshot() == before
    failed = ImportRun.objects.get(file_name=str(path))
    assert failed.status == ImportRun.Status.FAILED and failed.error == "ZeroDivisionError: the write failed"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_database_error_in_a_write_rolls_everything_back(tmp_path, overlapped, monkeypatch):
    """A constraint the server enforces, met by the writer thread: the transaction still ends as a whole."""
    before = snapshot()
    original = TableWriter.insert_copy_text
    calls = []

    def duplicate_statement_row(self, attnames, lines):
        calls.append(1)
        return original(self, attnames, [*lines, lines[0]] if len(calls) == 2 else lines)

    monkeypatch.setattr(TableWriter, "insert_copy_text", duplicate_statement_row)
    path = write_jsonl(tmp_path / "f.jsonl", [entity(f"e{n}") for n in range(9)])
    with pytest.raises(Exception, match="statement_id"):
        bods_import_file(path=path)
    assert snapshot() == before
    assert ImportRun.objects.get(file_name=str(path)).status == ImportRun.Status.FAILED


@pytest.mark.django_db
def test_an_import_inside_the_callers_transaction_writes_in_turn(tmp_path, overlapped):
    """The caller's transaction may hold rows no second connection sees: one connection, as on SQLite."""
    Entity.objects.create(external_id="e-uncommitted", name="Not committed yet")
    with transaction.atomic():
        summary = bods_import_file(
            path=write_jsonl(tmp_path / "f.jsonl", [person("p1"), relationship("r1", "p1", "e-uncommitted", 40)])
        )
    assert summary.statements_applied == 2 and not overlapped


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_second_connection_refuses_writes(tmp_path, overlapped, monkeypatch):
    """Anything but a query sent there would be committed at once, outside the import's transaction."""
    before = snapshot()

    def misrouted(self, batch):
        Entity.objects.create(external_id="misrouted", name="Written on the wrong connection")

    monkeypatch.setattr(bods_import._BatchApplier, "apply", misrouted)
    with pytest.raises(RuntimeError, match="for reading only"):
        bods_import_file(path=write_jsonl(tmp_path / "f.jsonl", [entity("e1")]))
    assert snapshot() == before
