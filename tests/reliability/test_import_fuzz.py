"""Fuzzing the BODS import: random mutations of a valid file either import or fail cleanly.

"Cleanly" means a ``BodsImportError`` naming the statement, and nothing from the file kept.
Any other exception (KeyError, TypeError, RecursionError, a database error, …) is a defect.
"""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.services.bods_import import BodsImportError, bods_import_file
from tests.bods.builders import entity, person, relationship, snapshot

pytestmark = pytest.mark.django_db

VALID = [
    entity("fz-e1", "Fuzz Holdings Ltd", "GB"),
    person("fz-p1", "Fuzz Person", "CN"),
    relationship("fz-r1", "fz-p1", "fz-e1", 60),
]

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(value, prefix=()):
    """Every path to a value inside the statements (dict keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


ALL_PATHS = [path for path in _paths(VALID) if len(path) >= 2]


def _mutate(statements, path, new_value, delete):
    mutated = copy.deepcopy(statements)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = new_value
    return mutated


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mutations=st.lists(
        st.tuples(st.sampled_from(ALL_PATHS), ODD_VALUES, st.booleans()),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_statements_import_or_fail_cleanly(tmp_path, mutations):
    statements = VALID
    for path, value, delete in mutations:
        try:
            statements = _mutate(statements, path, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path's parent
    path = tmp_path / "fuzz.jsonl"
    path.write_text("".join(json.dumps(s, default=str) + "\n" for s in statements))
    before = snapshot()
    try:
        bods_import_file(path=path, progress=False)
    except BodsImportError as error:
        assert "statement" in str(error) or "file" in str(error)
        assert snapshot() == before
