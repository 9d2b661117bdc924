from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GLEIF = FIXTURES / "gleif"
LEI_CSV = GLEIF / "20240301-0000-gleif-goldencopy-lei2-golden-copy.csv"
LEI_XML = GLEIF / "20240301-0000-gleif-goldencopy-lei2-golden-copy.xml"
RR_CSV = GLEIF / "20240301-0000-gleif-goldencopy-rr-golden-copy.csv"
RR_XML = GLEIF / "20240301-0000-gleif-goldencopy-rr-golden-copy.xml"
REPEX_CSV = GLEIF / "20240301-0000-gleif-goldencopy-repex-golden-copy.csv"
REPEX_XML = GLEIF / "20240301-0000-gleif-goldencopy-repex-golden-copy.xml"
FTM = FIXTURES / "ftm" / "entities.ftm.json"
ENTITY_LIST_CSV = FIXTURES / "lists" / "us-bis-entity-list-2024-03-01.csv"


@pytest.fixture
def fixtures():
    return FIXTURES
