"""Importing BODS into the models: record semantics, mapping, idempotency, all-or-nothing."""

import json
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from bods_fixtures import list_cases, load

from cases.models import BodsStatement, Entity, ImportRun, Interest, Jurisdiction, Person, Relationship
from cases.services.bods_import import BodsImportError, bods_import_file

from .builders import entity, person, relationship, snapshot, write_array, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["inline", "reader process"])
def reader_mode(request, monkeypatch):
    """Every test here runs twice: statements prepared in this process, and in a forked reader process."""
    from cases.services import bods_import

    monkeypatch.setattr(bods_import, "READER_PROCESS_MIN_BYTES", 1 << 62 if request.param == "inline" else 0)
    return request.param


def run(tmp_path, statements, name="f.jsonl", **kwargs):
    return bods_import_file(path=write_jsonl(tmp_path / name, statements, **kwargs))


def failing(tmp_path, statements, name="bad.jsonl") -> BodsImportError:
    before = snapshot()
    with pytest.raises(BodsImportError) as error:
        run(tmp_path, statements, name)
    assert snapshot() == before, "a rejected file must leave every row untouched"
    failed = ImportRun.objects.get(file_name=str(tmp_path / name))
    assert failed.status == ImportRun.Status.FAILED
    assert failed.error == str(error.value)
    return error.value


def test_entity_mapping(tmp_path):
    run(
        tmp_path,
        [
            entity(
                "e1",
                "Pearl Holdings Ltd",
                "KY",
                entityType={"type": "registeredEntity"},
                alternateNames=["Pearl"],
                addresses=[
                    {"type": "registered", "address": "George Town", "country": {"code": "KY", "name": "Cayman"}},
                    {"type": "registered", "address": "2nd", "country": {"code": "GB", "name": "UK"}},
                    {"type": "business", "address": "Central", "country": {"code": "HK", "name": "HK"}},
                    {"type": "business", "address": "Pudong", "country": {"code": "cn", "name": "China"}},
                ],
                publicListing={"hasPublicListing": True},
                identifiers=[
                    {"scheme": "XI-LEI", "id": "LEI0001"},
                    {"scheme": "XI-LEI", "id": "LEI0001"},
                    {"schemeName": "Registry", "id": "R-1"},
                ],
                foundingDate="2001-02-03",
            ),
            entity("e2", "Sub Ltd", "CN-SH", entityType={"type": "stateBody", "subtype": "stateAgency"}),
        ],
    )
    e1 = Entity.objects.get(external_id="e1")
    assert e1.name == "Pearl Holdings Ltd"
    assert e1.alternate_names == ["Pearl"]
    assert e1.jurisdiction_id == "KY"
    assert e1.registered_address_country_id == "KY"  # the first registered address
    assert e1.business_address_countries == ["HK", "CN"]
    assert len(e1.addresses) == 4
    assert e1.is_listed and e1.listing == {"hasPublicListing": True}
    assert str(e1.founding_date) == "2001-02-03"
    assert sorted(e1.identifiers.values_list("scheme", "scheme_name", "value")) == [
        ("", "Registry", "R-1"),
        ("XI-LEI", "", "LEI0001"),
    ]
    assert e1.statement_id and str(e1.statement_date) == "2026-01-15"
    assert e1.source == {"type": ["officialRegister"], "description": "test"}
    e2 = Entity.objects.get(external_id="e2")
    assert (e2.entity_type, e2.entity_subtype, e2.jurisdiction_id) == ("stateBody", "stateAgency", "CN-SH")


def test_person_mapping(tmp_path):
    run(
        tmp_path,
        [
            person(
                "p1",
                names=[
                    {"type": "alternative", "fullName": "Johnny"},
                    {"type": "legal", "fullName": "John Smith"},
                ],
                nationalities=[{"code": "GB", "name": "UK"}, {"code": "RU", "name": "Russia"}],
                addresses=[
                    {"type": "residence", "address": "x", "country": {"code": "CN", "name": "China"}},
                    {"type": "service", "address": "y", "country": {"code": "FR", "name": "France"}},
                ],
                taxResidencies=[{"code": "HK", "name": "Hong Kong"}],
                birthDate="1970-05",
            ),
            statement_unknown_person(),
        ],
    )
    p1 = Person.objects.get(external_id="p1")
    assert p1.name == "John Smith"
    assert p1.nationalities == ["GB", "RU"]
    assert p1.residence_countries == ["CN"]
    assert p1.tax_residencies == ["HK"]
    assert p1.birth_date == "1970-05"
    assert len(p1.names) == 2
    anonymous = Person.objects.get(external_id="p-anon")
    assert anonymous.person_type == "anonymousPerson" and anonymous.name == "Anonymous person"


def statement_unknown_person():
    from .builders import statement

    return statement("p-anon", "person", {"isComponent": False, "personType": "anonymousPerson"})


def test_relationship_and_interests(tmp_path):
    interests = [
        {
            "type": "shareholding",
            "directOrIndirect": "direct",
            "beneficialOwnershipOrControl": True,
            "details": "ordinary shares",
            "share": {"exact": Decimal("33.5")},
            "startDate": "2020-01-01",
            "endDate": "2024-06-30",
        },
        {"type": "votingRights", "share": {"exclusiveMinimum": 25, "maximum": 50}},
        {"type": "votingRights", "share": {"exclusiveMinimum": 50, "exclusiveMaximum": 75}},
        {"type": "shareholding", "share": {"minimum": 75}},
        {"type": "rightsGrantedByContract"},
    ]
    summary = run(tmp_path, [entity("e1"), person("p1"), relationship("r1", "p1", "e1", interests=interests)])
    rel = Relationship.objects.get(external_id="r1")
    assert rel.subject.external_id == "e1" and rel.interested_person.external_id == "p1"
    rows = list(rel.interests.order_by("pk"))
    first = rows[0]
    assert (first.interest_type, first.direct_or_indirect, first.beneficial_ownership_or_control) == (
        "shareholding",
        "direct",
        True,
    )
    assert first.share_exact == Decimal("33.5") and first.details == "ordinary shares"
    assert (str(first.start_date), str(first.end_date)) == ("2020-01-01", "2024-06-30")
    bands = [
        (r.share_minimum, r.share_minimum_exclusive, r.share_maximum, r.share_maximum_exclusive) for r in rows[1:4]
    ]
    assert bands == [
        (Decimal(25), True, Decimal(50), False),
        (Decimal(50), True, Decimal(75), True),
        (Decimal(75), False, None, False),
    ]
    assert rows[4].interest_type == "rightsGrantedByContract" and not rows[4].has_share
    assert rows[4].direct_or_indirect == "unknown"
    assert summary.counts["relationships"] == {"created": 1, "updated": 0, "closed": 0}
    assert summary.affected_entity_ids == {rel.subject_id}


def test_precision_widening(tmp_path):
    third = Decimal("33.333333333333333")
    interests = [
        {"type": "shareholding", "share": {"exact": third}},
        {"type": "votingRights", "share": {"exclusiveMinimum": third, "exclusiveMaximum": Decimal("66.666666666666")}},
        {"type": "shareholding", "share": {"exact": Decimal("12.12345678")}},
    ]
    run(tmp_path, [entity("e1"), person("p1"), relationship("r1", "p1", "e1", interests=interests)])
    exact, band, fits = Interest.objects.order_by("pk")
    # Too precise to store: the exact value becomes the narrowest stored range containing it.
    assert exact.share_exact is None
    assert (exact.share_minimum, exact.share_maximum) == (Decimal("33.33333333"), Decimal("33.33333334"))
    # Lower bounds round down, upper bounds up: the stored range contains the published one.
    assert (band.share_minimum, band.share_maximum) == (Decimal("33.33333333"), Decimal("66.66666667"))
    assert band.share_minimum_exclusive and band.share_maximum_exclusive
    assert fits.share_exact == Decimal("12.12345678")


def test_unspecified_interested_party_keeps_reason(tmp_path):
    party = {"reason": "subjectUnableToConfirmOrIdentifyBeneficialOwner", "description": "Could not identify"}
    run(tmp_path, [entity("e1"), relationship("r1", party, "e1")])
    rel = Relationship.objects.get(external_id="r1")
    assert rel.interested_entity is None and rel.interested_person is None
    assert rel.unspecified_reason == "subjectUnableToConfirmOrIdentifyBeneficialOwner"
    assert rel.unspecified_description == "Could not identify"


def test_interest_without_a_type_is_an_unknown_interest(tmp_path):
    """BODS 0.4 does not require an interest's type (the import fuzz found a crash here): keep it as unknown."""
    interests = [{"directOrIndirect": "direct", "share": {"exact": 60}}]
    run(tmp_path, [entity("e1"), person("p1"), relationship("r1", "p1", "e1", interests=interests)])
    interest = Interest.objects.get(relationship__external_id="r1")
    assert interest.interest_type == "unknownInterest"
    assert interest.share_exact == 60


def test_indirect_summary_keeps_components(tmp_path):
    statements = [
        person("p1"),
        entity("h1"),
        entity("s1"),
        relationship("c1", "p1", "h1", 100, isComponent=True, componentRecords=[]),
        relationship("c2", "h1", "s1", 60, isComponent=True, componentRecords=[]),
        relationship(
            "sum",
            "p1",
            "s1",
            interests=[{"type": "shareholding", "directOrIndirect": "indirect", "share": {"exact": 60}}],
            componentRecords=["c1", "c2"],
        ),
    ]
    run(tmp_path, statements)
    summary = Relationship.objects.get(external_id="sum")
    assert summary.component_record_ids == ["c1", "c2"] and summary.is_indirect_summary
    assert not summary.is_component
    assert set(Relationship.objects.filter(is_component=True).values_list("external_id", flat=True)) == {"c1", "c2"}
    assert summary.interests.get().direct_or_indirect == "indirect"


def test_updated_replaces_details_and_interests_wholesale(tmp_path):
    run(
        tmp_path,
        [
            entity("e1", "Old Name", "GB", identifiers=[{"scheme": "GB-COH", "id": "1"}]),
            person("p1"),
            relationship("r1", "p1", "e1", 30),
        ],
        name="one.jsonl",
    )
    interests = [{"type": "votingRights", "share": {"exact": 45}}, {"type": "shareholding", "share": {"exact": 40}}]
    summary = run(
        tmp_path,
        [
            entity("e1", "New Name", "FR", status="updated", identifiers=[{"scheme": "FR-RCS", "id": "2"}]),
            relationship("r1", "p1", "e1", status="updated", interests=interests),
        ],
        name="two.jsonl",
    )
    e1 = Entity.objects.get(external_id="e1")
    assert (e1.name, e1.jurisdiction_id) == ("New Name", "FR")
    assert list(e1.identifiers.values_list("scheme", "value")) == [("FR-RCS", "2")]
    rel = Relationship.objects.get(external_id="r1")
    assert sorted(rel.interests.values_list("interest_type", "share_exact")) == [
        ("shareholding", Decimal(40)),
        ("votingRights", Decimal(45)),
    ]
    assert summary.counts["entities"]["updated"] == 1 and summary.counts["relationships"]["updated"] == 1
    assert Entity.objects.count() == 1 and Relationship.objects.count() == 1


def test_statements_about_one_record_in_one_file_apply_in_order(tmp_path):
    run(
        tmp_path,
        [
            entity("e1", "First"),
            person("p1"),
            relationship("r1", "p1", "e1", 10),
            entity("e1", "Second", status="updated"),
            relationship("r1", "p1", "e1", 20, status="updated"),
        ],
    )
    assert Entity.objects.get().name == "Second"
    assert Interest.objects.get().share_exact == 20


def test_closed_marks_record_closed(tmp_path):
    run(tmp_path, [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 60)], name="one.jsonl")
    summary = run(tmp_path, [relationship("r1", "p1", "e1", 60, status="closed")], name="two.jsonl")
    rel = Relationship.objects.get(external_id="r1")
    assert rel.is_closed
    assert summary.counts["relationships"] == {"created": 0, "updated": 0, "closed": 1}
    assert not Entity.objects.get().is_closed


def test_reimport_is_idempotent(tmp_path):
    statements = [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 60)]
    path = write_jsonl(tmp_path / "f.jsonl", statements)
    bods_import_file(path=path)
    before = snapshot()
    summary = bods_import_file(path=path)
    assert snapshot() == before  # every row, every field, including updated_at
    assert summary.statements_skipped == 3 and summary.statements_applied == 0
    assert all(change == 0 for counts in summary.counts.values() for change in counts.values())
    assert ImportRun.objects.filter(status="succeeded").count() == 2


def test_reference_to_record_from_an_earlier_file(tmp_path):
    run(tmp_path, [entity("e1"), person("p1")], name="one.jsonl")
    run(tmp_path, [relationship("r1", "p1", "e1", 25)], name="two.jsonl")
    assert Relationship.objects.get().interested_person.external_id == "p1"


@pytest.mark.parametrize(
    ("writer", "compress"), [(write_jsonl, False), (write_jsonl, True), (write_array, False), (write_array, True)]
)
def test_formats_import_the_same(tmp_path, writer, compress):
    path = writer(
        tmp_path / "data.bods", [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 60)], compress=compress
    )
    summary = bods_import_file(path=path)
    assert summary.statements_applied == 3
    assert Interest.objects.get().share_exact == 60


def test_missing_subdivision_is_created(tmp_path):
    Jurisdiction.objects.filter(code="CN-SH").delete()
    run(tmp_path, [entity("e1", code="CN-SH")])
    assert Jurisdiction.objects.get(code="CN-SH").name == "Shanghai Shi"
    assert Entity.objects.get().jurisdiction_id == "CN-SH"


def test_every_statement_is_stored(tmp_path):
    statements = [entity("e1"), person("p1"), relationship("r1", "p1", "e1", Decimal("12.5"))]
    summary = run(tmp_path, statements)
    stored = list(BodsStatement.objects.order_by("position"))
    assert [s.statement_id for s in stored] == [s["statementId"] for s in statements]
    assert [(s.record_id, s.record_type, s.record_status, s.position) for s in stored] == [
        ("e1", "entity", "new", 1),
        ("p1", "person", "new", 2),
        ("r1", "relationship", "new", 3),
    ]
    assert stored[2].parsed_body["recordDetails"]["interests"][0]["share"]["exact"] == Decimal("12.5")
    assert stored[0].import_run_id == summary.import_run_id
    run_row = ImportRun.objects.get(pk=summary.import_run_id)
    assert run_row.status == "succeeded" and run_row.statements_read == 3 and run_row.statements_applied == 3
    assert len(run_row.file_sha256) == 64


# -- rejected files: nothing changes, a failed ImportRun says why ------------------------------


@pytest.fixture
def existing(tmp_path):
    run(
        tmp_path, [entity("e-old"), person("p-old"), relationship("r-old", "p-old", "e-old", 40)], name="existing.jsonl"
    )


def test_atomic_failure_at_the_last_statement(tmp_path, existing):
    statements = [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 30), relationship("r2", "p1", "e1", 101)]
    error = failing(tmp_path, statements)
    assert "statement 4" in str(error) and "101 is greater than the maximum of 100" in str(error)
    assert not Entity.objects.filter(external_id="e1").exists()


def test_not_json(tmp_path, existing):
    path = tmp_path / "bad.jsonl"
    path.write_text("this is not json")
    before = snapshot()
    with pytest.raises(BodsImportError, match="not JSON"):
        bods_import_file(path=path)
    assert snapshot() == before
    assert ImportRun.objects.get(file_name=str(path)).status == "failed"


def test_truncated_json(tmp_path, existing):
    path = write_array(tmp_path / "bad.json", [entity("e1"), person("p1")])
    path.write_bytes(path.read_bytes()[:-40])
    before = snapshot()
    with pytest.raises(BodsImportError, match=r"truncated JSON after statement 1 \(statement 2 cannot be read\)"):
        bods_import_file(path=path)
    assert snapshot() == before
    assert "truncated JSON" in ImportRun.objects.get(file_name=str(path)).error


def test_wrong_bods_version(tmp_path, existing):
    bad = person("p1")
    bad["publicationDetails"]["bodsVersion"] = "0.3"
    error = failing(tmp_path, [entity("e1"), bad])
    assert "statement 2 (statementId" in str(error)
    assert "publicationDetails.bodsVersion is '0.3'" in str(error)


def test_missing_required_field(tmp_path, existing):
    bad = entity("e2")
    del bad["recordDetails"]["entityType"]
    error = failing(tmp_path, [entity("e1"), bad])
    assert "statement 2" in str(error) and '"entityType" is a required property' in str(error)


def test_dangling_reference(tmp_path, existing):
    error = failing(tmp_path, [entity("e1"), relationship("r1", "p-nowhere", "e1", 10)])
    assert "statement 2" in str(error) and "dangling reference to 'p-nowhere'" in str(error)


def test_duplicate_statement_ids(tmp_path, existing):
    first, second = entity("e1"), entity("e2")
    second["statementId"] = first["statementId"]
    error = failing(tmp_path, [first, second])
    assert "statement 2" in str(error) and "duplicate statementId" in str(error)


def test_share_over_100(tmp_path, existing):
    error = failing(tmp_path, [relationship("r1", "p-old", "e-old", 100.5)])
    assert "recordDetails.interests[0].share.exact: 100.5 is greater than the maximum of 100" in str(error)


def test_unknown_jurisdiction(tmp_path, existing):
    error = failing(tmp_path, [entity("e1", code="ZZ")])
    assert "recordDetails.jurisdiction.code: 'ZZ' is not an ISO 3166-1 alpha-2 country code" in str(error)


def test_database_error_rolls_back_and_is_recorded(tmp_path, existing, monkeypatch):
    """A failure while applying (not validating) also leaves nothing behind."""
    from cases.services.bulk_sql import TableWriter

    original = TableWriter.insert_rows

    def explode(self, attnames, rows):
        if self.model is Interest:
            raise RuntimeError("disk full")
        original(self, attnames, rows)

    monkeypatch.setattr(TableWriter, "insert_rows", explode)
    before = snapshot()
    with pytest.raises(RuntimeError):
        run(tmp_path, [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 5)], name="boom.jsonl")
    assert snapshot() == before
    failed = ImportRun.objects.get(file_name=str(tmp_path / "boom.jsonl"))
    assert failed.status == "failed" and failed.error == "RuntimeError: disk full"


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of two statements, so a file spans several validated-then-written batches."""
    from cases.services import bods_import

    monkeypatch.setattr(bods_import, "BATCH_SIZE", 2)


def test_failure_after_written_batches_keeps_nothing(tmp_path, existing, small_batches):
    """Earlier batches are already written when a later one fails: the rollback takes them away."""
    statements = [entity("e1"), person("p1"), relationship("r1", "p1", "e1", 30), entity("e2"), entity("e3", code="ZZ")]
    error = failing(tmp_path, statements)
    assert "statement 5" in str(error) and "'ZZ' is not an ISO 3166-1" in str(error)


def test_forward_reference_across_batches_is_dangling(tmp_path, existing, small_batches):
    """The party is defined by a later batch: checked before this batch is written, it is still dangling."""
    statements = [entity("e1"), relationship("r1", "p1", "e1", 10), person("p1")]
    error = failing(tmp_path, statements)
    assert "statement 2" in str(error) and "dangling reference to 'p1'" in str(error)


def test_failure_in_the_same_batch_reports_the_earlier_dangling_reference(tmp_path, existing, small_batches):
    statements = [relationship("r1", "p-nowhere", "e-old", 10), entity("e1", code="ZZ")]
    error = failing(tmp_path, statements)
    assert "statement 1" in str(error) and "dangling reference to 'p-nowhere'" in str(error)


def test_body_is_the_statement_as_published(tmp_path):
    statements = [entity("e1", "Caf\u00e9 \u6f22\u5b57"), person("p1"), relationship("r1", "p1", "e1", Decimal("12.5"))]
    path = run(tmp_path, statements).file_name
    published = Path(path).read_text(encoding="utf-8").splitlines()
    stored = list(BodsStatement.objects.order_by("position").values_list("body", flat=True))
    assert stored == published


def test_body_is_stored_byte_for_byte_on_every_database(tmp_path):
    """Key order, spacing, escapes and the spelling of numbers stay as the file has them (evidence an auditor
    can hash), which ``jsonb`` on PostgreSQL would rewrite."""
    published = [
        json.dumps(entity("e1", "Caf\u00e9"), ensure_ascii=True, indent=None, separators=(", ", " : ")),
        json.dumps(dict(reversed(list(person("p1").items()))), ensure_ascii=False),
        json.dumps(relationship("r1", "p1", "e1", Decimal("12.5")), default=str).replace('"12.5"', "12.50"),
    ]
    path = tmp_path / "exact.jsonl"
    path.write_text("\n".join(published) + "\n", encoding="utf-8")
    bods_import_file(path=path)
    stored = list(BodsStatement.objects.order_by("position").values_list("body", flat=True))
    assert stored == published
    assert BodsStatement.objects.get(position=3).parsed_body["recordDetails"]["interests"][0]["share"]["exact"] == (
        Decimal("12.50")
    )


def test_body_and_names_keep_backslashes_tabs_and_line_breaks(tmp_path):
    """What COPY text format reads as escapes (backslash, tab, newline, carriage return) is stored as published."""
    name = "Back\\slash\tTab\nNew line\rReturn \\N"
    statements = [entity("e1", name), person("p1", name=name)]
    path = tmp_path / "f.jsonl"
    # A literal tab as whitespace between tokens, and escapes inside strings, in the published text.
    path.write_text("\n".join(json.dumps(statement).replace(', "', ',\t"', 1) for statement in statements) + "\n")
    bods_import_file(path=path)
    assert Entity.objects.get(external_id="e1").name == name
    assert Person.objects.get(external_id="p1").name == name
    stored = {s.statement_id: s.parsed_body for s in BodsStatement.objects.all()}
    for statement in statements:
        assert stored[statement["statementId"]] == statement


def test_multiline_json_values_are_read(tmp_path):
    """JSON Lines files with a pretty-printed statement still import (the splitter takes over the rest)."""
    statements = [entity("e1"), person("p1"), relationship("r1", "p1", "e1", Decimal("33.3"))]
    text = json.dumps(statements[0], default=str) + "\n" + json.dumps(statements[1], indent=2) + "\n"
    text += json.dumps(statements[2], default=float) + "\n"
    path = tmp_path / "pretty.jsonl"
    path.write_text(text)
    summary = bods_import_file(path=path)
    assert summary.statements_applied == 3
    assert Interest.objects.get().share_exact == Decimal("33.3")


# -- published fixtures and the demo -----------------------------------------------------------


@pytest.mark.parametrize("name", list_cases())
def test_bods_fixtures(name):
    fixture = load(name)
    path = files("bods_fixtures") / "data" / f"{name}.json"
    summary = bods_import_file(path=str(path))
    assert summary.statements_applied == len(fixture.statements)
    assert Entity.objects.count() == len(fixture.by_record_type("entity"))
    assert Person.objects.count() == len(fixture.by_record_type("person"))
    assert Relationship.objects.count() == len(fixture.by_record_type("relationship"))


def test_fixture_details():
    bods_import_file(path=str(files("bods_fixtures") / "data" / "core/01-direct-ownership.json"))
    rel = Relationship.objects.get(external_id="rec-rel-jane-acme")
    assert rel.interested_person.name == "Jane Smith"
    assert sorted(rel.interests.values_list("interest_type", "share_exact", "beneficial_ownership_or_control")) == [
        ("shareholding", Decimal(75), True),
        ("votingRights", Decimal(75), True),
    ]
    assert Entity.objects.get().identifiers.get().value == "10000001"
    bods_import_file(path=str(files("bods_fixtures") / "data" / "edge-cases/11-anonymous-person.json"))
    unspecified = Relationship.objects.exclude(unspecified_reason="").get()
    assert unspecified.unspecified_reason == "subjectUnableToConfirmOrIdentifyBeneficialOwner"


def test_demo_file_imports_and_names_every_customer():
    import csv
    from pathlib import Path

    from cases.services.gleif_import import gleif_import_file, gleif_import_order

    demo = Path(__file__).resolve().parents[2] / "demo"
    summary = bods_import_file(path=demo / "demo.bods.jsonl.gz")
    assert summary.statements_applied > 200
    for path in gleif_import_order(sorted((demo / "sources").glob("*gleif-goldencopy*"))):
        gleif_import_file(path=path, progress=False)  # the customers of the list-driven sample are LEI records
    with (demo / "customers.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 40
    ids = {row["entity_record_id"] for row in rows}
    assert Entity.objects.filter(external_id__in=ids).count() == len(ids)
    assert Entity.objects.filter(name__startswith="Example ", name__contains="Subject").count() == 10
    assert Relationship.objects.filter(is_closed=True).count() == 1
    assert Relationship.objects.exclude(component_record_ids=[]).exists()
    assert (demo / "demo.bods.jsonl.gz").stat().st_size < 2 * 1024 * 1024


def test_nul_character_in_a_name_is_rejected_before_anything_is_stored(tmp_path, existing):
    error = failing(tmp_path, [entity("e1"), person("p1", name="Li\x00Wei")])
    assert "statement 2" in str(error)
    assert "recordDetails.names[0].fullName: text contains a NUL character (U+0000)" in str(error)


def test_unpaired_surrogate_escape_is_rejected_not_mangled(tmp_path, existing):
    """An unpaired \\ud800 must reach validation as written (a streaming parser turned it into '?'): refused."""
    before = snapshot()
    path = write_jsonl(tmp_path / "f.jsonl", [entity("e1"), entity("e-surrogate")])
    text = path.read_text().replace("e-surrogate", "e-\\ud800-surrogate")
    path.write_text(text)
    with pytest.raises(BodsImportError) as error:
        bods_import_file(path=path)
    assert "statement 2" in str(error.value)
    assert "unpaired UTF-16 surrogate (U+D800)" in str(error.value)
    assert snapshot() == before
