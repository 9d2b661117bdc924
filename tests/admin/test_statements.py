"""The BODS statement page shows the statement exactly as the file had it, and formatted to read."""

import hashlib
import json

from django.urls import reverse

from cases.models import BodsStatement
from cases.services.bods_import import bods_import_file
from tests.bods.builders import entity

from .conftest import client_for


def test_statement_page_shows_the_published_text_and_a_formatted_view(tmp_path, auditor):
    published = json.dumps(entity("e1", "Caf\u00e9 <b>& Co</b>"), separators=(",", " : "), ensure_ascii=True)
    path = tmp_path / "one.jsonl"
    path.write_text(published + "\n", encoding="utf-8")
    bods_import_file(path=path)
    statement = BodsStatement.objects.get()

    response = client_for(auditor).get(reverse("admin:cases_bodsstatement_change", args=[statement.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    escaped = published.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    assert escaped in page, "the exact published text, HTML-escaped, not a re-encoding"
    assert "Café &lt;b&gt;&amp; Co&lt;/b&gt;" in page, "the formatted view decodes the escapes"
    assert "<b>& Co</b>" not in page
    assert hashlib.sha256((published).encode()).hexdigest() in page, "the hash of the file's line"
