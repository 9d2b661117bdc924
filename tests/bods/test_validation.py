"""Validation without the database: schema (jsonschema-rs) and the checks a schema cannot make."""

from decimal import Decimal

import pytest

from cases.bods import BodsError, StatementValidator

from .builders import entity, person, relationship


def validate(statements, known=None):
    validator = StatementValidator(
        known_record_types=(lambda ids: {i: known[i] for i in ids if i in known}) if known else None
    )
    for position, statement in enumerate(statements, start=1):
        validator.check(position, statement)
    validator.finish()


def error_of(statements, known=None) -> BodsError:
    with pytest.raises(BodsError) as error:
        validate(statements, known)
    return error.value


def test_valid_statements_pass():
    validate([entity("e1"), person("p1"), relationship("r1", "p1", "e1", 50)])


def test_share_over_100_names_position_statement_and_path():
    bad = relationship("r1", "p1", "e1", 120)
    error = error_of([entity("e1"), person("p1"), bad])
    assert error.position == 3
    assert str(error) == (
        f"statement 3 (statementId {bad['statementId']}): "
        "recordDetails.interests[0].share.exact: 120 is greater than the maximum of 100"
    )


def test_decimal_just_over_100_is_caught():
    error = error_of([entity("e1"), person("p1"), relationship("r1", "p1", "e1", Decimal("100.000000001"))])
    assert "recordDetails.interests[0].share.exact: 100.000000001 is greater than the maximum of 100" in str(error)


@pytest.mark.parametrize(("version", "shown"), [("0.3", "'0.3'"), ("1.0", "'1.0'")])
def test_wrong_bods_version(version, shown):
    bad = entity("e1")
    bad["publicationDetails"]["bodsVersion"] = version
    error = error_of([bad])
    assert str(error).startswith("statement 1 (statementId ")
    assert f"publicationDetails.bodsVersion is {shown}: only BODS 0.4 statements can be imported" in str(error)


def test_missing_publication_details():
    bad = entity("e1")
    del bad["publicationDetails"]
    assert "publicationDetails.bodsVersion is missing" in str(error_of([bad]))


@pytest.mark.parametrize("field", ["statementDate", "recordId", "recordDetails"])
def test_missing_required_statement_field(field):
    bad = entity("e1")
    del bad[field]
    assert f'"{field}" is a required property' in str(error_of([bad]))


def test_missing_required_details_field():
    bad = entity("e1")
    del bad["recordDetails"]["entityType"]
    assert "statement 1 (statementId" in str(error_of([bad]))
    assert 'recordDetails: "entityType" is a required property' in str(error_of([bad]))


def test_duplicate_statement_id():
    first = entity("e1")
    second = person("p1")
    second["statementId"] = first["statementId"]
    error = error_of([first, second])
    assert error.position == 2
    assert "duplicate statementId: statement 1 has the same statementId" in str(error)


def test_dangling_reference():
    error = error_of([entity("e1"), relationship("r1", "p-missing", "e1", 10)])
    assert error.position == 2
    assert "recordDetails.interestedParty: dangling reference to 'p-missing'" in str(error)
    assert "BODS requires referenced records first" in str(error)


def test_forward_reference_is_dangling():
    """BODS requires referenced records to come first; a later definition does not help."""
    error = error_of([entity("e1"), relationship("r1", "p1", "e1", 10), person("p1")])
    assert error.position == 2
    assert "dangling reference to 'p1'" in str(error)


def test_reference_resolved_from_database():
    validate([relationship("r1", "p-db", "e-db", 10)], known={"p-db": {"person"}, "e-db": {"entity"}})


def test_earliest_error_wins_over_a_later_one():
    later = relationship("r2", "p1", "e1", 150)
    error = error_of([entity("e1"), relationship("r1", "ghost", "e1", 10), person("p1"), later])
    assert error.position == 2 and "ghost" in str(error)


def test_record_id_used_for_two_types():
    clash = person("x1")
    error = error_of([entity("x1"), clash])
    assert "recordId 'x1' is a person here but an earlier statement made it a entity" in str(error)


def test_new_record_clashing_with_database_type():
    error = error_of([person("x1")], known={"x1": {"entity"}})
    assert "recordId 'x1' is a person here but the database holds it as a entity" in str(error)


def test_subject_must_be_an_entity():
    error = error_of([person("p1"), person("p2"), relationship("r1", "p1", "p2", 10)])
    assert "recordDetails.subject: 'p2' is a person record, expected entity" in str(error)


@pytest.mark.parametrize("status", ["updated", "closed"])
def test_update_or_close_of_unknown_record(status):
    error = error_of([entity("e1", status=status)])
    assert f"recordStatus '{status}' for unknown entity record 'e1'" in str(error)


def test_update_of_database_record_is_fine():
    validate([entity("e1", status="updated")], known={"e1": {"entity"}})


@pytest.mark.parametrize(
    ("share", "reason"),
    [
        ({"minimum": 60, "maximum": 40}, "share: minimum 60 is greater than maximum 40"),
        ({"exclusiveMinimum": 50, "exclusiveMaximum": 50}, "leave no possible share"),
        ({"exact": 30, "minimum": 25}, "share: exact cannot be combined with a range (minimum)"),
        ({"minimum": 20, "exclusiveMinimum": 25}, "give minimum or exclusiveMinimum, not both"),
        ({"maximum": 20, "exclusiveMaximum": 25}, "give maximum or exclusiveMaximum, not both"),
        ({"minimum": -1}, "share.minimum: -1 is less than the minimum of 0"),
    ],
)
def test_share_bounds(share, reason):
    error = error_of([entity("e1"), person("p1"), relationship("r1", "p1", "e1", share)])
    assert error.position == 3
    assert reason in str(error)


def test_end_before_start():
    interests = [{"type": "shareholding", "startDate": "2025-01-01", "endDate": "2024-01-01"}]
    error = error_of([entity("e1"), person("p1"), relationship("r1", "p1", "e1", interests=interests)])
    assert "recordDetails.interests[0].endDate 2024-01-01 is before startDate 2025-01-01" in str(error)


def test_bad_date_format():
    interests = [{"type": "shareholding", "startDate": "2025-13-01"}]
    error = error_of([entity("e1"), person("p1"), relationship("r1", "p1", "e1", interests=interests)])
    assert 'recordDetails.interests[0].startDate: "2025-13-01" is not a "date"' in str(error)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("XX", "'XX' is not an ISO 3166-1 alpha-2 country code"),
        ("CN-ZZ", "'CN-ZZ' is not an ISO 3166-2 subdivision code"),
    ],
)
def test_unknown_jurisdiction_code(code, reason):
    error = error_of([entity("e1", code=code)])
    assert f"recordDetails.jurisdiction.code: {reason}" in str(error)


def test_subdivision_code_is_valid():
    validate([entity("e1", code="CN-SH")])


def test_self_ownership():
    error = error_of([entity("e1"), relationship("r1", "e1", "e1", 10)])
    assert "'e1' is also the subject (an entity cannot own itself)" in str(error)


def test_unspecified_subject_is_rejected():
    error = error_of([relationship("r1", {"reason": "unknown"}, {"reason": "unknown"}, 10)])
    assert "an unspecified subject cannot be imported" in str(error)


def test_unknown_interest_type_rejected_by_schema():
    interests = [{"type": "friendship"}]
    error = error_of([entity("e1"), person("p1"), relationship("r1", "p1", "e1", interests=interests)])
    assert "recordDetails.interests[0].type" in str(error)
