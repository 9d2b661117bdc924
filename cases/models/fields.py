"""Model fields of our own."""

import json

from django.db import models


class EncodedJSONField(models.JSONField):
    """A ``JSONField`` without SQLite's ``JSON_VALID`` CHECK, for columns only encoders write.

    On SQLite a ``JSONField`` is a text column with ``CHECK (JSON_VALID(col) OR col IS NULL)``;
    SQLite parses every value written to check it: 3.5 µs an entity row for five columns, a tenth
    of a GLEIF import's work in the importing process. The columns using this field are written
    only as the output of a JSON encoder: the ORM (``get_prep_value``, ``json.dumps``, for the admin,
    the API and factories alike, which validate the value as ever), the raw writers
    (``bulk_sql.TableWriter``: ``json_text``) and the importers' readers (``orjson.dumps``, in
    ``cases.sources.prepared`` and ``cases.bods.mapping``). No writer passes text through, so the
    CHECK could not fail; ``tests/services/test_data_sources.py`` checks every such column after
    each importer has written it. PostgreSQL's ``jsonb`` type validates on its own either way.
    """

    def db_check(self, connection):
        return None


class JSONTextField(EncodedJSONField):
    """JSON kept as text on every database, for a column written once by an encoder and read whole.

    On PostgreSQL a ``JSONField`` is ``jsonb``: the server parses every value written, which is the
    point when SQL looks inside it and pure cost when nothing does. A decision's input snapshot (about
    1.2 KB) is written once per decision and only ever read back whole by replay, so ``jsonb`` cost the
    server about 14 ns a byte on each first screening (1.6 s per 100 000 decisions) for nothing. The
    Python side is a ``JSONField``'s (values in, values
    out); lookups into the value (``snapshot__nodes``…) are not supported here, and nothing uses them.
    """

    def db_type(self, connection):
        return "text"

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or hasattr(value, "as_sql"):
            return value
        return json.dumps(value, cls=self.encoder)
