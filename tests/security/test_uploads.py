"""Evidence uploads: allowed by extension AND content (``evidence_sniff``); nothing that a browser would run."""

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError

from cases.services.cases import evidence_sniff


def ooxml(marker: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(marker, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("a.pdf", b"%PDF-1.7\n...", "application/pdf"),
        ("a.png", b"\x89PNG\r\n\x1a\n...", "image/png"),
        ("a.JPG", b"\xff\xd8\xff\xe0...", "image/jpeg"),
        ("a.csv", b"name,share\nA,50\n", "text/csv"),
        ("a.txt", "Notiz: Größe 50 %\n".encode(), "text/plain"),
        (
            "a.docx",
            ooxml("word/document.xml"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_allowed(name, content, content_type):
    assert evidence_sniff(name=name, content=content) == content_type


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("page.htm", b"<script>alert(1)</script>"),
        ("image.svg", b"<svg onload='alert(1)'/>"),
        ("page.xhtml", b"<html/>"),
        ("noext", b"hello"),
        ("report.pdf", b"<html><script>alert(1)</script></html>"),  # HTML renamed to .pdf
        ("photo.png", b"GIF89a<script>"),
        ("tool.pdf", b"MZ\x90\x00"),  # a Windows executable renamed
        ("data.csv", b"MZ\x90\x00binary"),
        ("data.txt", b"\x00\x01\x02"),
        ("data.txt", b"\xff\xfe\xfa not utf-8"),
        ("sheet.xlsx", ooxml("word/document.xml")),  # a docx renamed to .xlsx
        ("sheet.xlsx", b"PK\x03\x04 not a zip"),
    ],
)
def test_refused(name, content):
    with pytest.raises(ValidationError):
        evidence_sniff(name=name, content=content)
