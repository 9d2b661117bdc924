"""The API's JSON parser: DRF's, with pathological nesting reported as a parse error (400), not a 500."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # the standard library's decoder recurses once per nesting level
            raise ParseError("JSON parse error - nested too deeply.") from exc
