"""The pure readers and mappers: both GLEIF formats give the same records, errors name line/record/field."""

import gzip
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.sources import SourceError, is_valid_lei, lei_check_digits
from cases.sources.ftm import map_entity, read_entities
from cases.sources.gleif import map_entity as map_lei_record
from cases.sources.gleif import map_exception, map_relationship, read_records
from cases.sources.gleif.reader import detect
from cases.sources.lists import read_list_csv

from .conftest import ENTITY_LIST_CSV, FTM, LEI_CSV, LEI_XML, REPEX_CSV, REPEX_XML, RR_CSV, RR_XML


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=18, max_size=18))
def test_lei_check_digits_make_a_valid_lei_and_any_changed_digit_breaks_it(base):
    lei = base + lei_check_digits(base)
    assert is_valid_lei(lei)
    wrong = f"{(int(lei[-2:]) + 1) % 100:02d}"
    assert not is_valid_lei(base + wrong)


def test_known_leis():
    assert is_valid_lei("5493001KJTIIGC8Y1R12")  # Bloomberg Finance L.P.
    assert not is_valid_lei("5493001KJTIIGC8Y1R13")
    assert not is_valid_lei("5493001KJTIIGC8Y1R1")
    assert not is_valid_lei("5493001kjtiigc8y1r12")


def mapped(path, mapper):
    return [mapper(line, flat) for line, flat in read_records(detect(path))]


@pytest.mark.parametrize(
    ("csv_path", "xml_path", "mapper"),
    [(LEI_CSV, LEI_XML, map_lei_record), (RR_CSV, RR_XML, map_relationship), (REPEX_CSV, REPEX_XML, map_exception)],
)
def test_csv_and_xml_map_to_the_same_records(csv_path, xml_path, mapper):
    from_csv, from_xml = mapped(csv_path, mapper), mapped(xml_path, mapper)
    assert len(from_csv) == len(from_xml) > 0

    def comparable(record):
        return (record.record_id, getattr(record, "keys", None), record.values, getattr(record, "interests", None))

    assert [comparable(r) for r in from_csv] == [comparable(r) for r in from_xml]


def test_lei_record_mapping():
    great_wall = next(r for r in mapped(LEI_XML, map_lei_record) if r.record_id == "300300GREATWALL00009")
    assert great_wall.values["name"] == "Great Wall Defence Technology Co., Ltd."
    assert great_wall.values["alternate_names"] == ["长城防务科技有限公司"]
    assert great_wall.values["jurisdiction_id"] == "CN"
    assert great_wall.values["registered_address_country_id"] == "CN"
    assert great_wall.values["business_address_countries"] == ["CN"]
    assert great_wall.identifiers[0][:3] == ("XI-LEI", "Global Legal Entity Identifier Index", "300300GREATWALL00009")
    assert great_wall.source["registrationStatus"] == "ISSUED"
    assert great_wall.source["entityCategory"] == "GENERAL"


def test_consolidation_is_a_control_interest_in_force_from_the_relationship_period():
    direct, ultimate, _ = mapped(RR_CSV, map_relationship)
    assert direct.subject == ("XI-LEI", "5299009PARENTIND0097")
    assert direct.owner == ("XI-LEI", "300300GREATWALL00009")
    [interest] = direct.interests
    assert interest["interest_type"] == "controlViaCompanyRulesOrArticles"
    assert interest["share_exact"] is None
    assert str(interest["start_date"]) == "2018-07-01"  # RELATIONSHIP_PERIOD, not the accounting period
    assert interest["end_date"] is None
    assert ultimate.interests[0]["direct_or_indirect"] == "indirect"


def test_reporting_exception_is_an_unspecified_owner_of_unknown_share():
    listed, _ = mapped(REPEX_XML, map_exception)
    assert listed.owner is None
    assert listed.values["unspecified_reason"] == "subjectExemptFromDisclosure"
    assert "NON_PUBLIC" in listed.values["unspecified_description"]
    assert listed.interests[0]["interest_type"] == "shareholding"
    assert listed.interests[0]["share_exact"] is None  # 0–100 %


def test_zip_and_gzip_are_streamed_the_same(tmp_path):
    zipped = tmp_path / "lei.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(LEI_CSV, LEI_CSV.name)
    gzipped = tmp_path / "lei.xml.gz"
    gzipped.write_bytes(gzip.compress(LEI_XML.read_bytes()))
    plain = mapped(LEI_CSV, map_lei_record)
    assert [r.values for r in mapped(zipped, map_lei_record)] == [r.values for r in plain]
    assert [r.values for r in mapped(gzipped, map_lei_record)] == [r.values for r in plain]


def test_broken_xml_names_the_line(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text(LEI_XML.read_text().replace("</lei:LegalJurisdiction>", "</lei:LegalJurisdictio>", 3))
    with pytest.raises(SourceError) as error:
        mapped(broken, map_lei_record)
    assert "broken XML" in error.value.reason
    assert error.value.line is not None and error.value.line > 10


def test_bad_lei_names_line_and_field(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(LEI_CSV.read_text().replace("5493002LUXSUB0000011", "5493002LUXSUB0000012"))
    with pytest.raises(SourceError) as error:
        mapped(bad, map_lei_record)
    assert error.value.field == "LEI"
    assert error.value.line == 7
    assert "check digits" in error.value.reason


def test_ftm_entities_and_links():
    records = {entity.id: map_entity(entity) for entity in read_entities(FTM)}
    assert records["NK-milcorp-sanction"] is None  # Sanction: not mapped (membership comes from datasets)
    ownership = records["NK-own-2"]
    assert ownership.owner == ("FTM", "NK-milcorp") and ownership.subject == ("FTM", "NK-nlint")
    assert str(ownership.interests[0]["share_exact"]) == "60.00000000"
    milcorp = records["NK-milcorp"]
    assert ("XI-LEI", "5299000AERODYN000018") in milcorp.keys
    assert milcorp.values["alternate_names"] == ["AeroDyn Tech"]
    director = records["NK-dir-1"]
    assert director.interests[0]["interest_type"] == "boardMember"
    assert str(director.interests[0]["start_date"]) == "2015-01-01"
    person = records["Q-anna-schmidt"]
    assert person.values["nationalities"] == ["DE"]


def test_ftm_percentage_over_100_names_line_record_and_property(tmp_path):
    bad = tmp_path / "bad.ftm.json"
    bad.write_text(FTM.read_text().replace('"percentage": ["100"]', '"percentage": ["150"]'))
    with pytest.raises(SourceError) as error:
        [map_entity(entity) for entity in read_entities(bad)]
    assert (error.value.line, error.value.record, error.value.field) == (9, "NK-own-3", "properties.percentage")


def test_list_csv_members():
    members = list(read_list_csv(ENTITY_LIST_CSV))
    assert [m.record_id for m in members] == ["EL-0001", "EL-0002"]
    assert members[0].identifiers == [("XI-LEI", "300300PRCOWNER000040")]
    assert members[0].aliases == ["Shenzhen Precision", "SZ Precision Owner"]
    assert members[1].countries == ["HK"]


def test_full_golden_copies_are_told_from_deltas(tmp_path):
    # XML says so in its header; a CSV has no header block, so its (GLEIF-given) name says it.
    assert detect(RR_XML).full and detect(RR_CSV).full and detect(LEI_CSV).full
    delta_csv = tmp_path / "20240302-0800-gleif-goldencopy-rr-last-day.csv"
    delta_csv.write_bytes(RR_CSV.read_bytes())
    assert not detect(delta_csv).full
    delta_xml = tmp_path / "renamed-golden-copy.xml"
    delta_xml.write_text(RR_XML.read_text().replace("GLEIF_FULL_PUBLISHED", "GLEIF_DELTA_PUBLISHED"))
    assert not detect(delta_xml).full
    unnamed = tmp_path / "rr.csv"  # nothing says it is complete: treated as a delta, it closes nothing
    unnamed.write_bytes(RR_CSV.read_bytes())
    assert not detect(unnamed).full


@pytest.mark.parametrize(
    ("file_content", "complete"),
    [
        ("GLEIF_FULL_PUBLISHED", True),
        # An LOU's full file lacks every other LOU's records; those have not gone.
        ("LOU_FULL_PUBLISHED", False),
        ("GLEIF_FULL_INTERNAL", False),
        ("LOU_FULL_INTERNAL", False),
        ("QUERY_RESPONSE", False),
        ("GLEIF_DELTA_INTERNAL", False),
    ],
)
def test_only_the_whole_published_golden_copy_is_complete(tmp_path, file_content, complete):
    path = tmp_path / "20240301-0000-gleif-goldencopy-rr-golden-copy.xml"  # the name would say "full"
    path.write_text(RR_XML.read_text().replace("GLEIF_FULL_PUBLISHED", file_content))
    assert detect(path).full is complete


def test_unknown_file_content_is_rejected_with_its_line_and_field(tmp_path):
    path = tmp_path / "rr.xml"
    path.write_text(RR_XML.read_text().replace("GLEIF_FULL_PUBLISHED", "EVERYTHING"))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "EVERYTHING" in text)
    with pytest.raises(SourceError, match=rf"line {line}, field FileContent: unknown FileContent 'EVERYTHING'"):
        detect(path)


def test_csv_rows_read_as_dict_reader_would(tmp_path):
    """Blank lines skipped, empty values left out, line numbers of the physical lines, extra values rejected."""
    import csv

    header, *rows = LEI_CSV.read_text(encoding="utf-8").splitlines()
    padded = tmp_path / "padded-golden-copy.csv"
    padded.write_text("\n".join([header, rows[0], "", rows[1], '"5493001LUXHOLD000051"']) + "\n", encoding="utf-8")
    got = list(read_records(detect(padded)))
    with padded.open(newline="", encoding="utf-8") as text:
        reader = csv.DictReader(text)
        expected = [(reader.line_num, {k: v for k, v in row.items() if v}) for row in reader]
    assert got == expected and [line for line, _ in got] == [2, 4, 5]
    assert got[-1][1] == {"LEI": "5493001LUXHOLD000051"}
    extra = tmp_path / "extra-golden-copy.csv"
    extra.write_text("\n".join([header, rows[0], rows[1] + ',"surplus"']) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as error:
        list(read_records(detect(extra)))
    assert (error.value.line, "more values than header columns" in str(error.value)) == (3, True)


def test_entity_batch_of_records_is_of_their_ready_entities():
    """Built record by record, the batch is the one ``EntityBatch.of`` makes: a repeated id keeps its place."""

    from cases.sources.prepared import Encoding, EntityBatch, ready_entity

    encoding = Encoding(provenance={"system": "gleif"}, today="2026-12-03", now="now", adapt_date=str)
    records = [map_lei_record(line, flat) for line, flat in read_records(detect(LEI_CSV))]
    again = map_lei_record(
        99, dict(next(flat for _, flat in read_records(detect(LEI_CSV))), **{"Entity.LegalName": "X"})
    )
    for batch in (records, [*records, again], [again, *records]):
        built = EntityBatch.of_records(iter(batch), encoding)
        assert built == EntityBatch.of([ready_entity(record, encoding) for record in batch])
        assert len(built.record_ids) == len(records) and built.items()[0].record_id == records[0].record_id


@pytest.fixture
def staged_encoding():
    """The encoding of a staged import and the LEI-CDF fixture's records (skipped where staging cannot run)."""
    from cases.sources.prepared import CAN_STAGE, Encoding

    if not CAN_STAGE:
        pytest.skip("this Python's sqlite3 cannot serialize databases")
    encoding = Encoding(provenance={"system": "gleif"}, today="2026-12-04", now="now", adapt_date=str, staged=True)
    return encoding, [map_lei_record(line, flat) for line, flat in read_records(detect(LEI_CSV))]


def test_staged_entity_batch_reads_back_as_the_batch(staged_encoding):
    """The SQLite image of a batch gives back the same batch: rows, identifiers, keys in their order, codes."""
    from cases.sources.prepared import EntityBatch, StagedEntityBatch

    encoding, records = staged_encoding
    # A key that is no identifier of the record, before its LEI; a record with two keys in another order.
    records[0].keys = [("FTM", "ftm-1"), *records[0].keys]
    records[1].keys = [*records[1].keys, ("GB-COH", "0123")]
    records[1].identifiers = [*records[1].identifiers, ("GB-COH", "Companies House", "0123", "")]
    batch = EntityBatch.of_records(iter(records), encoding)
    staged = StagedEntityBatch.of(batch)
    assert isinstance(staged, StagedEntityBatch) and staged.count == len(records)
    assert staged.batch() == batch
    assert staged.batch().keys[0] == [("FTM", "ftm-1"), ("XI-LEI", records[0].record_id)]
    # Rows that do not share the per-import values are sent as they are.
    odd = batch._replace(rows=[batch.rows[0][:1] + ("statement-1",) + batch.rows[0][2:], *batch.rows[1:]])
    assert StagedEntityBatch.of(odd) is odd
    empty = EntityBatch([], [], [], [], [], frozenset())
    assert StagedEntityBatch.of(empty) is empty


def test_staged_entity_batch_of_records_is_the_staged_batch_of_their_entity_batch(staged_encoding):
    """Staged straight from the records, the batch reads back as ``EntityBatch.of_records`` would be: repeats too."""
    from cases.sources.prepared import EntityBatch, StagedEntityBatch

    encoding, records = staged_encoding
    records[0].keys = [("FTM", "ftm-1"), *records[0].keys]
    again = map_lei_record(
        99, dict(next(flat for _, flat in read_records(detect(LEI_CSV))), **{"Entity.LegalName": "X"})
    )
    again.keys = [*again.keys, ("GB-COH", "1")]
    for batch in (records, [*records, again], [again, *records]):
        staged = StagedEntityBatch.of_records(iter(batch), encoding)
        expected = EntityBatch.of_records(iter(batch), encoding)
        assert staged.batch() == expected and staged.count == len(expected.rows)
        assert staged == StagedEntityBatch.of(expected)
