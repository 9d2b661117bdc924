"""ISO 17442 Legal Entity Identifiers: 18 alphanumeric characters and two ISO 7064 mod 97-10 check digits."""

from __future__ import annotations

import re

_LEI = re.compile(r"^[0-9A-Z]{18}[0-9]{2}$")
#: Letters become numbers A=10 … Z=35 (ISO 7064), in one ``str.translate`` pass.
_LETTERS = str.maketrans({chr(code): str(code - 55) for code in range(ord("A"), ord("Z") + 1)})


def _as_number(text: str) -> int:
    return int(text.translate(_LETTERS))


def lei_check_digits(base: str) -> str:
    """The two check digits for an 18-character LEI prefix (the same scheme as IBAN)."""
    return f"{98 - _as_number(base + '00') % 97:02d}"


def is_valid_lei(value: str) -> bool:
    """Well-formed and its check digits verify (mod 97 of the whole code is 1)."""
    return bool(value) and _LEI.match(value) is not None and _as_number(value) % 97 == 1
