"""Stored decisions through the API: replay (issue 13 item 2) and the PDF evidence report (item 3).

The report test renders the PDF, rasterises it with ``pdftoppm`` and reads it back with ``pdftotext``
(Debian's poppler-utils, installed by .ci/run), so what is checked is what a reader sees.
"""

import datetime
import shutil
import subprocess

import pytest
from django.utils import timezone

from cases.models import Case, CurrentDecision
from cases.services.audit_anchor import audit_checkpoint_write
from cases.services.cases import case_start_review
from cases.services.exemptions import exemption_approve, exemption_request
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake

pytestmark = pytest.mark.django_db
POPPLER = shutil.which("pdftoppm") and shutil.which("pdftotext")


@pytest.fixture
def screened():
    """A customer 70 % owned by a Chinese holding through a Dutch company: blocked, with a case."""
    customer = CustomerFactory(entity__external_id="cust-9", entity__name="Harbour Trading Ltd")
    middle = EntityFactory(external_id="nl-mid", name="Middle Holding BV", jurisdiction_id="NL")
    stake(EntityFactory(external_id="cn-top", name="Dragon Capital Co", jurisdiction_id="CN"), middle, 80)
    stake(PersonFactory(nationalities=["GB"], name="Alice Example"), middle, 20)
    stake(middle, customer.entity, 70)
    screen_entities(entity_ids=[customer.entity.pk])
    return CurrentDecision.objects.get(entity=customer.entity).decision


def test_replay_endpoint(api, screened):
    body = api.get(f"/api/v1/decisions/{screened.pk}/replay/").json()
    assert body["decision"] == screened.pk and body["entity"] == "cust-9"
    assert body["available"] and body["same_result"] and body["input_fingerprint_match"]
    assert body["stored"]["outcome"] == "block" and body["stored"] == body["replayed"]
    assert body["differences"] == []
    assert api.get("/api/v1/decisions/999999/replay/").status_code == 404


def test_report_needs_decision_view_permission(screened, auditor_user=None):
    from rest_framework.test import APIClient

    assert APIClient().get(f"/api/v1/decisions/{screened.pk}/report.pdf").status_code in (401, 403)


@pytest.mark.skipif(not POPPLER, reason="needs poppler-utils (pdftoppm, pdftotext): apt-get install poppler-utils")
def test_evidence_report_pdf_renders_with_everything_a_regulator_needs(
    api, screened, investigator_user, manager_user, tmp_path
):
    case = Case.objects.get(subject=screened.entity)
    case_start_review(case=case, actor=investigator_user)
    exemption = exemption_request(
        entity=screened.entity,
        case=case,
        reason="Wind-down licence granted",
        expires_on=timezone.localdate() + datetime.timedelta(days=60),
        actor=investigator_user,
    )
    exemption_approve(exemption=exemption, actor=manager_user)
    checkpoint = audit_checkpoint_write()

    response = api.get(f"/api/v1/decisions/{screened.pk}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.content)

    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and all(page.stat().st_size > 2000 for page in pages)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    for expected in (
        "Decision evidence report: Harbour Trading Ltd",
        "cust-9",  # customer
        "BLOCK",
        "Look-through",
        "Control chain",  # both methods
        "Dragon Capital Co → Middle Holding BV → Harbour Trading Ltd",  # a contributing path
        "Ownership graph",
        "Sources and provenance",
        "nl-mid",
        investigator_user.username,  # the exemption's two people
        manager_user.username,
        "Wind-down licence granted",
        "same outcome, figures, reasons and paths",  # the replay verdict
        "Audit-chain position",
        checkpoint.name,  # the checkpoint that anchors it
    ):
        assert expected in " ".join(text.split()) or expected in text, f"{expected!r} not in the PDF text"
