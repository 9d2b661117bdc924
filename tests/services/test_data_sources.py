"""GLEIF, FtM and restricted-list imports end to end: joins on LEI, the spec's decisions, all-or-nothing."""

import csv
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from cases.models import (
    AuditEvent,
    Case,
    CurrentDecision,
    Entity,
    EntityIdentifier,
    ImportRun,
    Interest,
    NameMatch,
    Person,
    Relationship,
    RescreenRequest,
    RestrictedList,
    RestrictedListMember,
)
from cases.services import import_runs, source_import
from cases.services.bods_import import bods_import_file
from cases.services.ftm_import import ftm_import_file
from cases.services.gleif_import import gleif_import_file
from cases.services.import_runs import SourceImportError
from cases.services.restricted_lists import restricted_list_import_csv
from cases.services.screening import downstream_entity_ids, screen_entities
from cases.services.screening_requests import screening_request_submit
from tests.bods.builders import entity, person, relationship, snapshot, write_jsonl
from tests.sources.conftest import ENTITY_LIST_CSV, FTM, LEI_CSV, LEI_XML, REPEX_CSV, RR_CSV, RR_XML

pytestmark = pytest.mark.django_db

LUX = "5493001LUXHOLD000051"
PARENT = "5299009PARENTIND0097"
GREAT_WALL = "300300GREATWALL00009"
LISTED = "5493007LISTEDPLC0085"
LUX_SUB = "5493002LUXSUB0000011"
PRC_OWNER = "300300PRCOWNER000040"


def by_lei(lei: str) -> Entity:
    return Entity.objects.get(identifiers__scheme="XI-LEI", identifiers__value=lei)


def decide(*leis: str) -> dict[str, dict]:
    entities = [by_lei(lei) for lei in leis]
    screen_entities(entity_ids=[e.pk for e in entities], trigger="import")
    return {lei: CurrentDecision.objects.get(entity=e).decision.payload for lei, e in zip(leis, entities, strict=True)}


def import_all(tmp_path):
    """BODS register (the Luxembourg customer with its LEI, 40 % held by a clean person), then GLEIF, then FtM."""
    bods = [
        entity("lu-register-1", "LUX HOLDINGS SARL", "LU", identifiers=[{"scheme": "XI-LEI", "id": LUX}]),
        person("lu-person-1", "Marie Weber", "LU"),
        relationship("lu-rel-1", "lu-person-1", "lu-register-1", 40),
        entity(
            "gb-listed",
            "Listed Widgets PLC",
            "GB",
            identifiers=[{"scheme": "XI-LEI", "id": LISTED}],
            publicListing={"hasPublicListing": True},
        ),
    ]
    bods_import_file(path=write_jsonl(tmp_path / "register.jsonl", bods))
    for path in (LEI_CSV, RR_CSV):
        gleif_import_file(path=path)
    return ftm_import_file(path=FTM)


def test_chain_across_bods_gleif_and_ftm_joined_on_lei(tmp_path):
    import_all(tmp_path)
    lux = by_lei(LUX)
    assert lux.external_id == "lu-register-1"  # GLEIF and FtM records of the LEI landed on the BODS entity
    assert Entity.objects.filter(identifiers__value=LUX).count() == 1
    assert {"XI-LEI", "FTM"} <= set(lux.identifiers.values_list("scheme", flat=True))
    assert "Lux Holdings S.à r.l." in lux.alternate_names
    payloads = decide(LUX, PARENT)
    # Parent is consolidated by a Chinese company (GLEIF RR): control, whatever the percentages (spec 6).
    parent = payloads[PARENT]
    assert parent["outcome"] == "block"
    assert any("Controlled by restricted party Great Wall" in reason for reason in parent["reasons"])
    assert parent["methods"]["control_chain"]["low"] == 0.0  # control changes the outcome, not the figures
    # The customer: 60 % (FtM) held by a restricted (controlled) parent, 40 % by a clean person (BODS).
    lux_decision = payloads[LUX]
    assert lux_decision["outcome"] == "block"
    assert lux_decision["methods"]["control_chain"] == {"outcome": "block", "low": 60.0, "high": 60.0}
    assert lux_decision["methods"]["look_through"]["outcome"] == "review"  # 0 % proven, 60 % possible
    assert lux_decision["methods"]["look_through"]["high"] == 60.0


def test_reporting_exception_makes_the_figure_an_interval(tmp_path):
    import_all(tmp_path)
    before = decide(LISTED)[LISTED]
    # Listed (BODS: the undisclosed remainder is public float), 30 % held by a Chinese company (FtM).
    assert before["methods"]["look_through"] == {"outcome": "allow", "low": 30.0, "high": 30.0}
    summary = gleif_import_file(path=REPEX_CSV)
    assert by_lei(LISTED).pk in summary.affected_entity_ids
    exception = Relationship.objects.get(external_id=f"gleif-repex:{LISTED}:DIRECT_ACCOUNTING_CONSOLIDATION_PARENT")
    assert exception.unspecified_reason == "subjectExemptFromDisclosure"
    after = decide(LISTED)[LISTED]
    assert after["methods"]["look_through"]["low"] == 30.0
    assert after["methods"]["look_through"]["high"] == 100.0
    assert after["outcome"] == "review"


def test_1260h_member_two_levels_up_blocks_and_is_named(tmp_path):
    summary = import_all(tmp_path)
    assert summary.counts["list_members"] == {"us-dod-1260h": 1}
    member = RestrictedListMember.objects.get(restricted_list__code="us-dod-1260h")
    assert member.record_id == "NK-milcorp" and member.countries == ["NL"]
    payloads = decide(LUX_SUB, "5299000AERODYN000018")
    payload = payloads[LUX_SUB]
    # Luxembourg subsidiary <- 100 % Dutch holding <- 60 % AeroDynamics (Dutch, but on the 1260H list).
    assert payload["outcome"] == "block"
    assert payload["methods"]["look_through"]["low"] == 60.0
    assert any("US DoD 1260H" in reason and "AeroDynamics" in reason for reason in payload["reasons"])
    root = payloads["5299000AERODYN000018"]
    assert root["reasons"][0].startswith("Listed on US DoD 1260H list")


def test_reimport_changes_nothing_and_a_newer_file_rescreens_what_changed(tmp_path):
    gleif_import_file(path=LEI_CSV)
    before = snapshot()
    again = gleif_import_file(path=LEI_XML)  # the same records, other format
    assert again.counts["entities"] == {"created": 0, "updated": 0, "unchanged": 8}
    assert again.affected_entity_ids == set()
    assert snapshot() == before
    newer = tmp_path / "20240302-0800-gleif-goldencopy-lei2-intra-day.csv"
    newer.write_text(
        LEI_CSV.read_text()
        .replace('"Listed Widgets PLC"', '"Listed Widgets Group PLC"', 1)
        .replace("2024-03-01T10:00:00+00:00", "2024-03-02T08:00:00+00:00")
    )
    RescreenRequest.objects.all().delete()  # the worker has processed what the first imports asked for
    delta = gleif_import_file(path=newer)
    assert delta.affected_entity_ids == {by_lei(LISTED).pk}
    assert RescreenRequest.objects.filter(entity_ids=[by_lei(LISTED).pk], trigger="import").exists()
    listed = by_lei(LISTED)
    assert listed.name == "Listed Widgets Group PLC"
    assert listed.source["file"] == newer.name and listed.source["recordId"] == LISTED
    # An older file applied afterwards does not undo the newer record.
    stale = gleif_import_file(path=LEI_CSV)
    assert stale.affected_entity_ids == set()
    assert by_lei(LISTED).name == "Listed Widgets Group PLC"


def test_full_rr_file_closes_what_it_no_longer_has_and_a_delta_closes_nothing(tmp_path):
    gleif_import_file(path=LEI_CSV)
    gleif_import_file(path=RR_CSV)
    header, *rows = RR_CSV.read_text().splitlines(keepends=True)
    lux_row = next(row for row in rows if row.startswith(f'"{LUX_SUB}"'))
    lux_rel = Relationship.objects.get(subject=by_lei(LUX_SUB), external_id__startswith="gleif-rr:")
    assert not lux_rel.is_closed
    # A delta without the Luxembourg relationship says nothing about it.
    delta = tmp_path / "20240302-0800-gleif-goldencopy-rr-last-day.csv"
    delta.write_text(header + rows[0])
    assert gleif_import_file(path=delta).counts["relationships"] == {"created": 0, "updated": 0, "unchanged": 1}
    lux_rel.refresh_from_db()
    assert not lux_rel.is_closed
    # The next full golden copy lacks it: it has ended, and only its subject is re-screened.
    full = tmp_path / "20240303-0000-gleif-goldencopy-rr-golden-copy.csv"
    full.write_text(header + "".join(row for row in rows if row != lux_row))
    RescreenRequest.objects.all().delete()
    closing = gleif_import_file(path=full)
    assert closing.counts["relationships"] == {"created": 0, "updated": 0, "unchanged": 2, "closed": 1}
    assert closing.affected_entity_ids == {by_lei(LUX_SUB).pk}
    lux_rel.refresh_from_db()
    assert lux_rel.is_closed and lux_rel.source["closedBy"]["file"] == full.name
    assert Relationship.objects.filter(external_id__startswith="gleif-rr:", is_closed=False).count() == 2
    # The same full file again: nothing left to close, nothing written, nothing re-screened.
    before = snapshot()
    again = gleif_import_file(path=full)
    assert again.counts["relationships"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert again.affected_entity_ids == set() and snapshot() == before
    # An older full file applied late closes nothing: the newer one still had what it lacks.
    late = tmp_path / "20240302-0000-gleif-goldencopy-rr-golden-copy.csv"
    late.write_text(header + rows[0])
    assert "closed" not in gleif_import_file(path=late).counts["relationships"]
    assert Relationship.objects.filter(external_id__startswith="gleif-rr:", is_closed=False).count() == 2


@pytest.mark.parametrize(
    ("source", "replace", "importer", "expected"),
    [
        (LEI_CSV, ("5493002LUXSUB0000011", "5493002LUXSUB0000012"), gleif_import_file, "line 7, field LEI"),
        (RR_XML, ("</rr:RelationshipType>", "</rr:RelationshipTyp>"), gleif_import_file, "broken XML"),
        (FTM, ('"percentage": ["100"]', '"percentage": ["150"]'), ftm_import_file, "line 9, record NK-own-3"),
    ],
)
def test_bad_row_rejects_the_whole_file(tmp_path, source, replace, importer, expected):
    gleif_import_file(path=LEI_CSV) if importer is ftm_import_file else None
    bad = tmp_path / f"bad{''.join(source.suffixes)}"
    bad.write_text(source.read_text().replace(*replace))
    before = snapshot()
    members = RestrictedListMember.objects.count()
    with pytest.raises(SourceImportError) as error:
        importer(path=bad)
    assert str(bad) in error.value.message and expected in error.value.message
    assert snapshot() == before
    assert RestrictedListMember.objects.count() == members
    run = ImportRun.objects.get(file_name=str(bad))
    assert run.status == ImportRun.Status.FAILED and run.error == error.value.message


def test_bad_lei_error_names_the_field(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(LEI_CSV.read_text().replace("5493002LUXSUB0000011", "5493002LUXSUB0000012"))
    with pytest.raises(SourceImportError) as error:
        gleif_import_file(path=bad)
    assert error.value.message.endswith(
        "field LEI: '5493002LUXSUB0000012' is not an LEI (20 characters with ISO 17442 check digits)"
    )
    assert not Entity.objects.exists()


def _graph() -> dict:
    """The imported graph without row ids, timestamps or import runs: equal whichever process prepared it."""

    def src(source):
        if not isinstance(source, dict):
            return source
        return {k: src(v) for k, v in source.items() if k != "importRun"}

    def ext(party):
        return party.external_id if party else None

    return {
        "entities": sorted(
            (e.external_id, e.name, e.alternate_names, e.jurisdiction_id, e.registered_address_country_id)
            + (e.business_address_countries, e.addresses, e.founding_date, e.is_closed, src(e.source))
            for e in Entity.objects.all()
        ),
        "identifiers": sorted(
            (i.entity.external_id, i.scheme, i.scheme_name, i.value, i.uri) for i in EntityIdentifier.objects.all()
        ),
        "persons": sorted(
            (p.external_id, p.name, p.names, p.nationalities, p.residence_countries, p.birth_date, src(p.source))
            for p in Person.objects.all()
        ),
        "relationships": sorted(
            (r.external_id, ext(r.subject), ext(r.interested_entity), ext(r.interested_person), r.is_closed)
            + (r.unspecified_reason, src(r.source))
            + tuple(
                sorted(
                    (i.interest_type, i.direct_or_indirect, i.share_exact, i.start_date, i.end_date, i.details)
                    for i in r.interests.all()
                )
            )
            for r in Relationship.objects.all()
        ),
    }


def test_many_changed_ids_go_to_the_request_row_through_a_table_not_the_process(monkeypatch):
    monkeypatch.setattr(source_import, "SPILL_AFTER", 3)  # a golden copy's millions, in miniature
    summary = gleif_import_file(path=LEI_CSV)
    assert summary.affected_spilled and summary.affected_entity_ids == set()
    (row,) = RescreenRequest.objects.filter(trigger="import")
    assert row.entity_ids == sorted(Entity.objects.values_list("pk", flat=True)) and row.person_ids == []
    RescreenRequest.objects.all().delete()
    with transaction.atomic():  # what the same import asks for with its ids kept in the process
        monkeypatch.setattr(source_import, "SPILL_AFTER", 10_000)
        kept = ftm_import_file(path=FTM)
        transaction.set_rollback(True)
    monkeypatch.setattr(source_import, "SPILL_AFTER", 3)
    ftm = ftm_import_file(path=FTM)
    (row,) = RescreenRequest.objects.filter(trigger="import")
    assert ftm.affected_spilled and not kept.affected_spilled and len(kept.affected_entity_ids) > 3
    assert row.entity_ids == sorted(kept.affected_entity_ids)
    # New persons' ids differ between the two runs on PostgreSQL (sequences ignore the rollback).
    assert row.person_ids == sorted(Person.objects.values_list("pk", flat=True))
    assert len(row.person_ids) == len(kept.affected_person_ids)
    # Nothing changes on a second import: no request, spilled or not.
    RescreenRequest.objects.all().delete()
    assert not gleif_import_file(path=LEI_CSV).affected_spilled
    assert not RescreenRequest.objects.exists()


def test_changed_ids_past_the_limit_take_ranges_of_new_rows_in_sql():
    """A first load's batches add their new ids as a ``range``: generated into the table by the database."""
    from django.db import connection

    changed = source_import.ChangedIds("test_changed_ids", limit=3)
    changed.update([1, 2, 3, 4])
    assert changed.table == "test_changed_ids"  # spilled
    changed.update(range(10, 15))
    changed.update(range(3, 6))  # overlapping ids stay once
    changed.update(range(20, 20))
    changed.add(100)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {changed.table} ORDER BY id")  # noqa: S608 - the test's own table
        assert [pk for (pk,) in cursor.fetchall()] == [1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 100]
    assert changed.ids() is None
    changed.drop()


def test_the_reader_process_writes_what_the_importing_process_would(tmp_path, monkeypatch):
    for path in (LEI_CSV, RR_CSV, REPEX_CSV):
        gleif_import_file(path=path)
    ftm_import_file(path=FTM)
    in_process = _graph()
    for model in (Interest, Relationship, EntityIdentifier, Entity, Person):
        model.objects.all().delete()
    monkeypatch.setattr(import_runs, "READER_PROCESS_MIN_BYTES", 0)  # every file through the forked reader
    for path in (LEI_CSV, RR_CSV, REPEX_CSV):
        gleif_import_file(path=path)
    ftm_import_file(path=FTM)
    assert _graph() == in_process
    # A record the reader rejects fails the file with its line and field, and nothing of it stays.
    bad = tmp_path / "bad-golden-copy.csv"
    bad.write_text(LEI_CSV.read_text().replace("5493002LUXSUB0000011", "5493002LUXSUB0000012"))
    before = snapshot()
    with pytest.raises(SourceImportError) as error:
        gleif_import_file(path=bad)
    assert error.value.message == (
        f"{bad}, line 7, field LEI: '5493002LUXSUB0000012' is not an LEI (20 characters with ISO 17442 check digits)"
    )
    assert snapshot() == before


def test_staged_batches_write_what_unstaged_batches_write(tmp_path, monkeypatch):
    """On SQLite LEI-CDF batches arrive as database images copied in by ``INSERT … SELECT``: the same rows as
    ``executemany`` of the batch: a first load (some records stored already by another source), a re-import,
    a delta changing one record."""
    from django.db import connection

    staged_batches = []
    write_staged = source_import.SourceWriter._write_staged

    def counted(writer, batch):
        staged_batches.append(batch.count)
        return write_staged(writer, batch)

    monkeypatch.setattr(source_import.SourceWriter, "_write_staged", counted)

    class Undo(Exception):
        pass

    def run_all():  # each run rolled back afterwards, so both start from the same empty database
        try:
            with transaction.atomic():
                result = run_files()
                raise Undo
        except Undo:
            return result

    def run_files():
        import_all(tmp_path)  # a BODS entity with an LEI first: GLEIF's record of it exists by key
        gleif_import_file(path=REPEX_CSV)
        first = _graph()
        gleif_import_file(path=LEI_CSV)
        with LEI_CSV.open(newline="", encoding="utf-8") as text:
            header, *rows = list(csv.reader(text))
        rows[0][header.index("Entity.LegalName")] += " RENAMED"
        rows[0][header.index("Registration.LastUpdateDate")] = "2024-03-02T10:00:00+00:00"
        delta = tmp_path / "20240302-0000-gleif-goldencopy-lei2-last-day.csv"
        with delta.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([header, *rows])
        summary = gleif_import_file(path=delta)
        return first, _graph(), summary.counts["entities"]

    staged = run_all()
    assert bool(staged_batches) == (connection.vendor == "sqlite")
    monkeypatch.setattr(source_import, "CAN_STAGE", False)
    staged_batches.clear()
    assert run_all() == staged and not staged_batches
    assert staged[2]["updated"] == 1 and staged[0] != staged[1]


def test_reader_processes_sharing_a_file_write_what_one_would(tmp_path, monkeypatch):
    """Two readers each map every other batch (batches of 2 records here): the same graph, the same first error."""
    from cases.services import gleif_import

    zipped = tmp_path / "20240301-0000-gleif-goldencopy-lei2-golden-copy.csv.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(LEI_CSV, LEI_CSV.name)
    files = (zipped, RR_CSV, REPEX_CSV, LEI_XML)  # XML: one reader (it is not read in shares)
    for path in files:
        gleif_import_file(path=path)
    in_process = _graph()
    for model in (Interest, Relationship, EntityIdentifier, Entity, Person):
        model.objects.all().delete()
    monkeypatch.setattr(import_runs, "READER_PROCESS_MIN_BYTES", 0)
    monkeypatch.setattr(import_runs, "READER_PROCESSES", 2)
    monkeypatch.setattr(gleif_import, "BATCH_SIZE", 2)
    for path in files:
        gleif_import_file(path=path)
    assert _graph() == in_process
    # Bad records in batches of either reader: the first one in the file is the one reported.
    with LEI_CSV.open(newline="", encoding="utf-8") as text:
        header, *rows = list(csv.reader(text))
    column = header.index("Entity.LegalJurisdiction")
    for first_bad in (1, 2, 4):  # batch 0 (first reader), 1 (second), 2 (first)
        broken = [list(row) for row in rows]
        for index in (first_bad, first_bad + 1, len(broken) - 1):
            broken[index][column] = "XX"
        bad = tmp_path / "20240305-0000-gleif-goldencopy-lei2-golden-copy.csv"
        with bad.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([header, *broken])
        before = snapshot()
        with pytest.raises(SourceImportError) as error:
            gleif_import_file(path=bad)
        assert error.value.error.line == first_bad + 2 and error.value.error.field == "Entity.LegalJurisdiction"
        assert snapshot() == before


def test_relationship_to_an_unknown_lei_is_rejected(tmp_path):
    with pytest.raises(SourceImportError) as error:
        gleif_import_file(path=RR_CSV)
    assert "field Relationship.StartNode.NodeID" in error.value.message
    assert not Relationship.objects.exists()


def test_csv_list_load_replaces_members_and_rescreens_exactly_the_matched(tmp_path):
    gleif_import_file(path=LEI_CSV)
    owner = by_lei(PRC_OWNER)
    _, loaded = restricted_list_import_csv(path=ENTITY_LIST_CSV, list_code="us-bis-entity-list", version="2024-03-01")
    assert loaded.members_after == 2
    assert loaded.affected_entity_ids == {owner.pk}
    event = AuditEvent.objects.filter(action="restricted_list.loaded").latest("pk")
    assert event.after["members"] == 2
    payload = decide(PRC_OWNER)[PRC_OWNER]
    assert payload["reasons"][0].startswith("Listed on US Commerce Entity List (2024-03-01)")
    # The same edition again: nothing to re-screen. A new edition without the member: the owner is re-screened.
    _, same = restricted_list_import_csv(path=ENTITY_LIST_CSV, list_code="us-bis-entity-list", version="2024-03-01")
    assert same.affected_entity_ids == set()
    edition = tmp_path / "entity-list.csv"
    edition.write_text("\n".join(ENTITY_LIST_CSV.read_text().splitlines()[::2]) + "\n")  # header and EL-0002
    _, removed = restricted_list_import_csv(path=edition, list_code="us-bis-entity-list", version="2024-04-01")
    assert removed.affected_entity_ids == {owner.pk}
    assert RestrictedList.objects.get(code="us-bis-entity-list").members.count() == 1


def test_list_csv_with_a_bad_lei_changes_nothing(tmp_path):
    restricted_list_import_csv(path=ENTITY_LIST_CSV, list_code="us-bis-entity-list")
    bad = tmp_path / "bad-list.csv"
    bad.write_text(ENTITY_LIST_CSV.read_text().replace("300300PRCOWNER000040", "300300PRCOWNER000041"))
    with pytest.raises(SourceImportError) as error:
        restricted_list_import_csv(path=bad, list_code="us-bis-entity-list")
    assert "line 2, record EL-0001, field lei" in error.value.message
    assert RestrictedList.objects.get(code="us-bis-entity-list").members.count() == 2


def test_customer_with_only_a_name_gets_a_case_with_candidates_not_a_block(tmp_path, integration):
    ftm_import_file(path=FTM)
    result = screening_request_submit(
        actor=integration,
        customer_reference="crm-77",
        entity={"external_id": "crm-77", "name": "Aero Dynamics Technologies BV", "jurisdiction": "NL"},
    )
    assert result["decision"]["outcome"] != "block"  # a name match never blocks on its own
    assert result["case"] is not None
    [match] = NameMatch.objects.filter(entity__external_id="crm-77")
    assert match.candidate_member.record_id == "NK-milcorp"
    assert match.score >= 88 and match.country_matches
    case = Case.objects.get(reference=result["case"])
    assert "Name screening" in case.notes.get().text
    assert AuditEvent.objects.filter(action="name_screening.matched").exists()


def test_customer_with_an_unrelated_name_gets_no_match(integration):
    ftm_import_file(path=FTM)
    screening_request_submit(
        actor=integration, customer_reference="crm-78", entity={"external_id": "crm-78", "name": "Pineapple Ltd"}
    )
    assert not NameMatch.objects.exists()


def test_import_gleif_command_orders_files_and_stops_at_a_bad_one(tmp_path, capsys):
    call_command("import_gleif", str(RR_CSV), str(LEI_XML), "--no-screen")  # RR given first, applied second
    assert Relationship.objects.filter(external_id__startswith="gleif-rr:").count() == 3
    bad = tmp_path / "bad.csv"
    bad.write_text(LEI_CSV.read_text().replace(GREAT_WALL, "300300GREATWALL00008"))
    with pytest.raises(CommandError, match="nothing from this file was imported"):
        call_command("import_gleif", str(bad))


def test_import_ftm_and_list_commands(tmp_path):
    call_command("import_gleif", str(LEI_CSV))
    call_command("import_ftm", str(FTM))
    call_command(
        "import_restricted_list", str(ENTITY_LIST_CSV), "--list", "us-bis-entity-list", "--published-on", "2024-03-01"
    )
    assert CurrentDecision.objects.filter(entity=by_lei(PRC_OWNER), outcome="block").exists()
    with pytest.raises(CommandError, match="No restricted list 'nope'"):
        call_command("import_restricted_list", str(ENTITY_LIST_CSV), "--list", "nope")


def _ftm_line(entity_id, schema, datasets, **properties):
    return json.dumps(
        {
            "id": entity_id,
            "schema": schema,
            "properties": properties,
            "datasets": datasets,
            "referents": [],
            "first_seen": "2024-01-01T00:00:00",
            "last_seen": "2024-03-01T00:00:00",
        }
    )


def test_sdn_person_owning_a_majority_blocks_and_leaving_the_list_rescreens(tmp_path):
    lines = [
        _ftm_line("Q-sdn-1", "Person", ["us_ofac_sdn"], name=["Ivan Example"], nationality=["de"]),
        _ftm_line("NK-fr-co", "Company", ["fr_companies"], name=["Exemple SAS"], jurisdiction=["fr"]),
        _ftm_line("NK-own-9", "Ownership", ["fr_companies"], owner=["Q-sdn-1"], asset=["NK-fr-co"], percentage=["51"]),
    ]
    first = tmp_path / "20240301-entities.ftm.json"
    first.write_text("\n".join(lines) + "\n")
    ftm_import_file(path=first)
    company = Entity.objects.get(external_id="NK-fr-co")
    screen_entities(entity_ids=[company.pk], trigger="import")
    payload = CurrentDecision.objects.get(entity=company).decision.payload
    assert payload["outcome"] == "block"
    assert any("OFAC Specially Designated Nationals" in reason for reason in payload["reasons"])
    # The next export no longer has him on the list: the company is re-screened, and allowed.
    delisted = tmp_path / "20240302-entities.ftm.json"
    delisted.write_text("\n".join([lines[0].replace('"us_ofac_sdn"', '"de_companies"'), *lines[1:]]) + "\n")
    summary = ftm_import_file(path=delisted)
    assert company.pk in downstream_entity_ids(summary.affected_entity_ids, summary.affected_person_ids)


def test_a_batch_of_new_existing_and_repeated_records_writes_each_once(tmp_path):
    """One batch mixing stored records, new ones and a record repeated later in the file (the later wins)."""
    header, *rows = LEI_CSV.read_text().splitlines()
    part = tmp_path / "20240301-0000-gleif-goldencopy-lei2-golden-copy.csv"
    part.write_text("\n".join([header, *rows[:3]]) + "\n")
    first = gleif_import_file(path=part)
    assert first.counts["entities"]["created"] == 3
    repeated = rows[-1].replace("2024-03-01T10:00:00+00:00", "2024-03-01T11:00:00+00:00")
    last = next(csv.reader([rows[-1]]))
    lei, name = last[0], last[1]
    repeated = repeated.replace(f'"{name}"', f'"{name} RENAMED"', 1)
    full = tmp_path / "20240302-0000-gleif-goldencopy-lei2-golden-copy.csv"
    full.write_text("\n".join([header, *rows, repeated]) + "\n")
    summary = gleif_import_file(path=full)
    assert summary.counts["entities"] == {"created": len(rows) - 3, "updated": 0, "unchanged": 3}
    fresh = snapshot()
    assert Entity.objects.count() == len(rows)
    assert by_lei(lei).name == f"{name} RENAMED" and by_lei(lei).source["line"] == len(rows) + 2
    per_entity = EntityIdentifier.objects.values_list("entity_id", "scheme", "value")
    assert len(per_entity) == len(set(per_entity)) and {e for e, _, _ in per_entity} == set(
        Entity.objects.values_list("pk", flat=True)
    )
    assert gleif_import_file(path=full).counts["entities"]["created"] == 0 and snapshot() == fresh


def test_every_importer_writes_valid_json_in_the_unchecked_entity_columns(tmp_path):
    """``EncodedJSONField`` columns have no SQLite JSON_VALID CHECK: what each importer writes there must be JSON."""
    from django.db import connection

    from cases.models.fields import EncodedJSONField

    import_all(tmp_path)  # BODS, GLEIF (LEI-CDF and RR-CDF), FtM
    gleif_import_file(path=REPEX_CSV)
    columns = [f.column for f in Entity._meta.concrete_fields if isinstance(f, EncodedJSONField)]
    assert sorted(columns) == ["addresses", "alternate_names", "business_address_countries", "listing", "source"]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM cases_entity")  # noqa: S608 - model metadata
        rows = cursor.fetchall()
    assert len(rows) == Entity.objects.count() >= 8
    for row in rows:
        for value in row:  # text on SQLite (parsed here), already decoded jsonb on PostgreSQL
            assert value is not None
            if isinstance(value, str):
                json.loads(value)
