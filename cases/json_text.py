"""JSON text for JSON columns, shared by the pure BODS mapping and the raw writers.

Kept free of Django so that ``cases.bods.mapping`` (which runs in the import's
reader process) and ``cases.services.bulk_sql`` encode exactly alike.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{value.__class__.__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False, separators=(",", ":"))


def json_text(value: Any) -> str:
    """JSON text for a JSONField column; Decimals become numbers (floats).

    orjson is twice as fast as the standard encoder; the standard one remains
    for what orjson refuses (integers beyond 64 bits, non-string keys).
    """
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except TypeError:
        return _ENCODER.encode(value)
