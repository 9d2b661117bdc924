"""Cursor pagination for every list: stable under inserts, no COUNT(*)."""

import re

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

#: Every list is ordered by its integer primary key, so a cursor's position is a (64-bit) integer.
_POSITION = re.compile(r"-?[0-9]{1,19}")
_BIGINT = 2**63


class ApiCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "limit"
    ordering = "id"

    def decode_cursor(self, request):
        """DRF's decoding, plus: the position must be an integer (DRF passes any text to the id filter, a 500).

        A cursor that is not one of ours is a 400 on ``cursor``, like the change feed's (DRF says 404).
        """
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({"cursor": "Invalid cursor."}) from exc
        position = cursor.position if cursor is not None else None
        if position is not None and (not _POSITION.fullmatch(position) or abs(int(position)) >= _BIGINT):
            raise ValidationError({"cursor": "Invalid cursor."})
        return cursor
