"""GLEIF golden-copy files: LEI-CDF 3.1 (Level 1), RR-CDF 2.1 (Level 2) and Reporting Exceptions."""

from .mapping import (
    ENTITY_FILE,
    EXCEPTION_FILE,
    RELATIONSHIP_FILE,
    map_entity,
    map_exception,
    map_relationship,
)
from .reader import GleifFile, read_records

__all__ = [
    "ENTITY_FILE",
    "EXCEPTION_FILE",
    "RELATIONSHIP_FILE",
    "GleifFile",
    "map_entity",
    "map_exception",
    "map_relationship",
    "read_records",
]
