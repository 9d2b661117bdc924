"""The BODS 0.4 JSON schema, compiled once per process.

The schema ships with ``libcovebods`` as several files that ``$ref`` each other
by ``urn:`` ids (``urn:entity``, ``urn:components``...). They are loaded into a
``jsonschema_rs`` registry so references resolve offline, and the validator is
built once: compiling costs milliseconds, validating a statement microseconds.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs

SCHEMA_PACKAGE = "libcovebods"
SCHEMA_DIR = "data/schema-0-4-0"
SCHEMA_FILES = (
    "statement.json",
    "entity-record.json",
    "person-record.json",
    "relationship-record.json",
    "components.json",
)


def _load_schema_resources() -> list[tuple[str, dict[str, Any]]]:
    root = files(SCHEMA_PACKAGE).joinpath(SCHEMA_DIR)
    resources = []
    for name in SCHEMA_FILES:
        schema = json.loads(root.joinpath(name).read_text(encoding="utf-8"))
        resources.append((schema["$id"], schema))
    return resources


@cache
def statement_validator() -> jsonschema_rs.Validator:
    """A validator for one statement (``urn:statement#/$defs/Statement``), formats checked."""
    registry = jsonschema_rs.Registry(_load_schema_resources())
    return jsonschema_rs.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "urn:statement#/$defs/Statement"},
        registry=registry,
        validate_formats=True,
    )


def format_path(path) -> str:
    """``['recordDetails', 'interests', 0]`` -> ``recordDetails.interests[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def schema_problem(statement: dict[str, Any]) -> str | None:
    """The first schema violation as ``path: message``, or None if the statement is valid."""
    validator = statement_validator()
    try:
        if validator.is_valid(statement):
            return None
        for error in validator.iter_errors(statement):
            path = format_path(error.instance_path)
            return f"{path}: {error.message}" if path else error.message
    except ValueError as exc:  # jsonschema-rs refuses values nested deeper than its recursion limit
        if "recursion limit" not in str(exc).lower():
            raise
        return "the statement is nested too deeply to be valid BODS"
    return None  # pragma: no cover - is_valid and iter_errors agree
