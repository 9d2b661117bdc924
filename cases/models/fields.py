"""Model fields of our own."""

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
