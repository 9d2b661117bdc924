"""``EntityColumns`` (an LEI-CDF row mapped by column position) against ``map_entity`` of the row's dict.

The compiled mapping reads a CSV row without the dict ``map_entity`` takes; these tests pin
that it makes the same record — and the same staged row — for every row, and that a bad row
fails with exactly ``map_entity``'s error (the same field, message and record, the same first
field when several are bad).
"""

from __future__ import annotations

from itertools import islice

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cases.sources.errors import SourceError
from cases.sources.gleif import map_entity, read_records
from cases.sources.gleif.mapping import EntityColumns
from cases.sources.gleif.prepare import gleif_records
from cases.sources.gleif.reader import csv_header, detect, read_rows
from cases.sources.lei import lei_check_digits
from cases.sources.prepared import (
    CAN_STAGE,
    Encoding,
    EntityBatch,
    PreparedRecords,
    StagedEntityBatch,
    batch_sizes,
    staged_entity,
)

from .conftest import LEI_CSV


def lei(number: int) -> str:
    base = f"9845{number:014d}"
    return base + lei_check_digits(base)


HEADER = [
    "LEI",
    "Entity.LegalName",
    "Entity.OtherEntityNames.OtherEntityName",
    "Entity.OtherEntityNames.OtherEntityName.1",
    "Entity.OtherEntityNames.OtherEntityName.2",
    "Entity.TransliteratedOtherEntityNames.TransliteratedOtherEntityName.1",
    "Entity.LegalAddress.FirstAddressLine",
    "Entity.LegalAddress.AdditionalAddressLine.1",
    "Entity.LegalAddress.AdditionalAddressLine.2",
    "Entity.LegalAddress.City",
    "Entity.LegalAddress.Region",
    "Entity.LegalAddress.Country",
    "Entity.LegalAddress.PostalCode",
    "Entity.HeadquartersAddress.FirstAddressLine",
    "Entity.HeadquartersAddress.AdditionalAddressLine",
    "Entity.HeadquartersAddress.City",
    "Entity.HeadquartersAddress.Country",
    "Entity.HeadquartersAddress.PostalCode",
    "Entity.RegistrationAuthority.RegistrationAuthorityID",
    "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
    "Entity.LegalJurisdiction",
    "Entity.EntityCategory",
    "Entity.LegalForm.EntityLegalFormCode",
    "Entity.EntityStatus",
    "Entity.EntityCreationDate",
    "Registration.LastUpdateDate",
    "Registration.RegistrationStatus",
    "Registration.ValidationSources",
    "Registration.ManagingLOU",
]


def _mostly(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    """Good values nine times in ten, so that whole rows are often valid and each bad value still comes up."""
    return st.sampled_from([*good * (9 * len(bad)), *bad * len(good)])


VALUES = {
    "LEI": _mostly([lei(7), lei(8).lower(), f" {lei(9)} "], ["", "  ", lei(7)[:-1] + "0", "NOTANLEI"]),
    "Entity.LegalName": _mostly(["Acme Ltd", " Acme Ltd ", "BH 1", "x" * 600], ["", "   "]),
    "Entity.LegalJurisdiction": _mostly(["GB", "gb", "US-DE", ""], [" ", "XX", "GB-XYZ"]),
    "Entity.LegalAddress.Country": _mostly(["DE", "", " fr "], ["ZZ"]),
    "Entity.HeadquartersAddress.Country": _mostly(["JP", "", "CN"], ["Q1"]),
    "Entity.EntityCreationDate": _mostly(["2001-02-03T00:00:00+00:00", "2001", "", " 1999-12 "], ["2001-13", "soon"]),
    "Registration.LastUpdateDate": _mostly(["2024-03-01T10:00:00+00:00", ""], ["yesterday", "2024-02-30"]),
    "Entity.RegistrationAuthority.RegistrationAuthorityID": st.sampled_from(["RA000585", "", "RA" + "9" * 120]),
}
TEXT = st.sampled_from(["", "", "", "BH 1", "Acme Ltd", "1 High Street", 'with "quotes", commas', "Town", " "])


def _flat(header: list[str], row: list[str]) -> dict[str, str]:
    return {key: value for key, value in zip(header, row, strict=False) if value}


def _outcome(mapping, *args):
    try:
        return mapping(*args)
    except SourceError as error:
        return ("error", error.message, error.line, error.record, error.field)


rows = st.fixed_dictionaries({name: VALUES.get(name, TEXT) for name in HEADER})


@settings(max_examples=400, deadline=None)
@given(values=rows, order=st.permutations(range(len(HEADER))), keep=st.integers(min_value=20, max_value=len(HEADER)))
def test_a_row_maps_as_its_dict_does(values, order, keep):
    """Any header order, columns missing, short rows: the same record or the same error as ``map_entity``."""
    header = [HEADER[index] for index in order][:keep]
    row = [values[name] for name in header]
    columns = EntityColumns(header)
    expected = _outcome(map_entity, 5, _flat(header, row))
    assert _outcome(columns.record, 5, list(row)) == expected
    short = row[: len(row) - 3]
    assert _outcome(columns.record, 6, list(short)) == _outcome(map_entity, 6, _flat(header, short))
    encoding = Encoding(provenance={"system": "gleif", "importRun": 3}, today="t", now="n", adapt_date=str)
    staged = _outcome(columns.staged, 5, list(row), encoding)
    if isinstance(expected, tuple):
        assert staged == expected
    else:
        event("valid row")
        assert staged[0] == staged_entity(expected, encoding)[0]
        if CAN_STAGE:
            batch = StagedEntityBatch.of_staged([staged], encoding)
            assert batch == StagedEntityBatch.of_records([expected], encoding)
            assert batch.batch() == EntityBatch.of_records([expected], encoding)


def test_the_fixture_maps_as_its_dicts_do():
    source = detect(LEI_CSV)
    header = csv_header(LEI_CSV)
    columns = EntityColumns(header)
    by_rows = [columns.record(line, row) for line, row in read_rows(source, header)]
    assert by_rows == [map_entity(line, flat) for line, flat in read_records(source)] and len(by_rows) > 3


def test_a_header_with_a_repeated_name_is_mapped_through_dicts(tmp_path):
    """``DictReader`` keeps one value of a repeated column; its rows go through ``map_entity`` as before."""
    header, *lines = LEI_CSV.read_text(encoding="utf-8").splitlines()
    doubled = tmp_path / "doubled-golden-copy.csv"
    doubled.write_text("\n".join([header + ',"LEI"', *(line + ',""' for line in lines)]) + "\n", encoding="utf-8")
    assert EntityColumns.of(csv_header(doubled)) is None
    with pytest.raises(ValueError):
        EntityColumns(csv_header(doubled))
    encoding = Encoding(provenance={"system": "gleif"}, today="t", now="n", adapt_date=str)
    plain = [batch.ready for batch in gleif_records(detect(LEI_CSV), encoding, 2).batches()]
    assert [batch.ready for batch in gleif_records(detect(doubled), encoding, 2).batches()] == plain


@pytest.mark.parametrize("staged", [False, True])
def test_lei_csv_batches_are_those_of_the_mapped_records(staged):
    """Batches (and shares of them) from rows are the batches of ``map_entity``'s records."""
    if staged and not CAN_STAGE:
        pytest.skip("this Python's sqlite3 cannot serialize databases")
    encoding = Encoding(provenance={"system": "gleif"}, today="t", now="n", adapt_date=str, staged=staged)
    source = detect(LEI_CSV)
    records = [map_entity(line, flat) for line, flat in read_records(source)]
    make = StagedEntityBatch.of_records if staged else EntityBatch.of_records
    expected, start = [], 0
    for size in batch_sizes(2):
        if start >= len(records):
            break
        expected.append(make(records[start : start + size], encoding))
        start += size
    prepared = gleif_records(source, encoding, 2)
    assert [batch.ready for batch in prepared.batches()] == expected
    shares = [[batch.ready for batch in prepared.share(index, 2).batches()] for index in range(2)]
    assert shares[0] == expected[0::2] and shares[1] == expected[1::2]


def test_read_rows_refuses_a_header_that_is_not_the_files():
    source = detect(LEI_CSV)
    with pytest.raises(RuntimeError, match="header changed"):
        list(read_rows(source, ["LEI"]))


def test_batch_sizes_start_small_then_stay_at_the_size():
    assert list(islice(batch_sizes(5000), 8)) == [625, 625, 1250, 1250, 2500, 2500, 5000, 5000]
    assert list(islice(batch_sizes(2), 4)) == [1, 1, 2, 2] and list(islice(batch_sizes(1), 2)) == [1, 1]
    # Only a source that asks for it (GLEIF's) starts small; the others (FtM) keep one size, as before.
    plain = PreparedRecords(lambda: range(11), len, 4)
    assert list(plain.batches()) == [4, 4, 3]
    ramped = PreparedRecords(lambda: range(11), len, 4, small_first=True)
    assert list(ramped.batches()) == [1, 1, 2, 2, 4, 1]
