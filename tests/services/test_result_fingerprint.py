"""``result_fingerprint`` hashes the standard library's canonical JSON, whatever encoder produced the bytes."""

import dataclasses
import datetime
import hashlib
import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cases.ownership import Outcome
from cases.services.screening import result_fingerprint


def reference(payload: dict) -> str:
    """The fingerprint as first defined (standard library JSON, sorted keys, compact, ``default=str``)."""
    material = {key: value for key, value in payload.items() if key != "as_of"}
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


figures = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=100).map(lambda value: round(value, 9)),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.integers(min_value=-(2**70), max_value=2**70),
)
texts = st.one_of(
    st.text(max_size=12), st.sampled_from(["E1", "Ærø", "株式会社", "a\x7fb", "tab\there", "x\\y", "null"])
)
leaves = st.one_of(st.none(), st.booleans(), figures, texts)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(
    outcome=st.sampled_from(["allow", "review", "block"]),
    low=figures,
    high=figures,
    name=texts,
    reasons=st.lists(texts, max_size=3),
    extra=st.dictionaries(texts, values, max_size=3),
)
def test_fingerprint_is_the_standard_librarys_canonical_json(outcome, low, high, name, reasons, extra):
    payload = {
        **extra,
        "entity": "E1",
        "entity_name": name,
        "outcome": outcome,
        "as_of": "2026-12-04",
        "policy_version": 3,
        "methods": {"look_through": {"outcome": outcome, "low": low, "high": high}},
        "reasons": reasons,
        "paths": [{"method": "look_through", "nodes": ["A", name], "shares": [low, high], "contribution": low}],
    }
    assert result_fingerprint(payload) == reference(payload)


@dataclasses.dataclass(frozen=True)
class Pair:
    a: int
    b: str


def test_fingerprint_ignores_the_screening_date_and_keeps_exponents_and_escapes():
    base = {"entity": "E1", "as_of": "2026-12-01", "methods": {"low": 1.5e-07, "high": 1e-05}, "name": "Ærø\n"}
    assert result_fingerprint(base) == result_fingerprint({**base, "as_of": "2026-12-02"}) == reference(base)
    odd = {
        "when": datetime.datetime(2026, 12, 4, 3, 0, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 12, 4),
        "amount": Decimal("1.50"),
        "outcome": Outcome.REVIEW,
        "pair": Pair(1, "x"),
        "big": 2**80,
    }
    for key, value in odd.items():
        assert result_fingerprint({**base, key: value}) == reference({**base, key: value}), key
