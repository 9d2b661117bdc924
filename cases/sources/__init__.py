"""Readers and mappers for outside data sources (GLEIF, FollowTheMoney, restricted-party lists).

Pure Python, no Django: each reader streams one file and yields plain records, each
carrying its position (line or record number) so that an error can name the file,
the place and the field. The services in ``cases.services`` write what they yield.
"""

from .errors import SourceError
from .files import open_binary, open_text, sha256_of
from .lei import is_valid_lei, lei_check_digits

__all__ = ["SourceError", "is_valid_lei", "lei_check_digits", "open_binary", "open_text", "sha256_of"]
