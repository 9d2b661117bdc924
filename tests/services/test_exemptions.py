"""Exemptions: one year at most, four-eyes, expiry, and early end on a material ownership change."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import Case, CaseStatus, CaseTrigger, EffectiveDecision, EffectiveSource, Exemption, ExemptionStatus
from cases.services.cases import case_confirm_outcome, case_start_review
from cases.services.exemptions import (
    exemption_approve,
    exemption_reject,
    exemption_request,
    exemption_revoke,
    exemptions_expire,
    one_year_after,
)

from .conftest import decide

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


def approved_exemption(entity, investigator, manager, days=30):
    exemption = exemption_request(
        entity=entity,
        reason="Divestment agreed",
        expires_on=today() + datetime.timedelta(days=days),
        actor=investigator,
    )
    return exemption_approve(exemption=exemption, actor=manager)


def closed_case(entity, investigator):
    case = Case.objects.get(subject=entity)
    case_start_review(case=case, actor=investigator)
    return case_confirm_outcome(case=case, actor=investigator)


def test_max_one_year(entity, investigator):
    exemption_request(entity=entity, reason="r", expires_on=one_year_after(today()), actor=investigator)
    with pytest.raises(ValidationError, match="one year"):
        exemption_request(
            entity=entity,
            reason="r",
            expires_on=one_year_after(today()) + datetime.timedelta(days=1),
            actor=investigator,
        )
    with pytest.raises(ValidationError):
        exemption_request(entity=entity, reason="r", expires_on=today(), actor=investigator)
    with pytest.raises(ValidationError):
        exemption_request(
            entity=entity, reason=" ", expires_on=today() + datetime.timedelta(days=1), actor=investigator
        )


def test_one_year_after_leap_day():
    assert one_year_after(datetime.date(2028, 2, 29)) == datetime.date(2029, 2, 28)


def test_approval_makes_effective_allow(entity, investigator, manager):
    decide(entity, "block")
    exemption = approved_exemption(entity, investigator, manager)
    assert exemption.status == ExemptionStatus.APPROVED and exemption.ownership_fingerprint
    effective = EffectiveDecision.objects.get(entity=entity)
    assert (effective.outcome, effective.source, effective.exemption) == ("allow", EffectiveSource.EXEMPTION, exemption)


def test_four_eyes(entity, investigator, manager, superuser):
    decide(entity, "block")
    own = exemption_request(entity=entity, reason="r", expires_on=today() + datetime.timedelta(days=5), actor=manager)
    with pytest.raises(PermissionDenied, match="Four-eyes"):
        exemption_approve(exemption=own, actor=manager)
    with pytest.raises(PermissionDenied, match="Four-eyes"):
        exemption_reject(exemption=own, actor=manager)
    su_own = exemption_request(
        entity=entity, reason="r", expires_on=today() + datetime.timedelta(days=5), actor=superuser
    )
    with pytest.raises(PermissionDenied, match="Four-eyes"):
        exemption_approve(exemption=su_own, actor=superuser)
    other = exemption_request(
        entity=entity, reason="r", expires_on=today() + datetime.timedelta(days=5), actor=investigator
    )
    with pytest.raises(PermissionDenied):
        exemption_approve(exemption=other, actor=investigator)
    with pytest.raises(IntegrityError), transaction.atomic():
        Exemption.objects.filter(pk=other.pk).update(approved_by=investigator)
    rejected = exemption_reject(exemption=other, actor=manager, note="no")
    assert rejected.status == ExemptionStatus.REJECTED


def test_expiry_recomputes_effective_and_reopens_case(entity, investigator, manager):
    decide(entity, "block")
    closed_case(entity, investigator)
    exemption = approved_exemption(entity, investigator, manager, days=10)
    assert exemptions_expire(today=exemption.expires_on) == []  # last day still valid
    expired = exemptions_expire(today=exemption.expires_on + datetime.timedelta(days=1))
    assert [e.pk for e in expired] == [exemption.pk]
    exemption.refresh_from_db()
    assert exemption.status == ExemptionStatus.EXPIRED
    effective = EffectiveDecision.objects.get(entity=entity)
    assert (effective.outcome, effective.source) == ("block", EffectiveSource.AUTOMATIC)
    case = Case.objects.get(subject=entity)
    assert case.status == CaseStatus.OPEN and case.trigger == CaseTrigger.EXEMPTION_EXPIRY and case.reopen_count == 1


def test_material_ownership_change_ends_exemption_and_reopens_case(entity, investigator, manager):
    decide(entity, "block")
    closed_case(entity, investigator)
    exemption = approved_exemption(entity, investigator, manager)
    decide(entity, "block", figures=(85.0, 85.0), trigger="ownership_change")  # same outcome, new figures
    exemption.refresh_from_db()
    assert exemption.status == ExemptionStatus.REVOKED and "ownership" in exemption.end_reason
    assert EffectiveDecision.objects.get(entity=entity).source == EffectiveSource.AUTOMATIC
    assert Case.objects.get(subject=entity).status == CaseStatus.OPEN


def test_same_figures_keep_exemption(entity, investigator, manager):
    decide(entity, "block")
    exemption = approved_exemption(entity, investigator, manager)
    decide(entity, "block")  # same outcome and figures (e.g. only reasons text changed)
    exemption.refresh_from_db()
    assert exemption.status == ExemptionStatus.APPROVED


def test_revoke(entity, investigator, manager):
    decide(entity, "block")
    exemption = approved_exemption(entity, investigator, manager)
    with pytest.raises(PermissionDenied):
        exemption_revoke(exemption=exemption, actor=investigator, reason="x")
    exemption = exemption_revoke(exemption=exemption, actor=manager, reason="Customer lied")
    assert exemption.status == ExemptionStatus.REVOKED
    assert EffectiveDecision.objects.get(entity=entity).outcome == "block"


def test_request_on_a_case_follows_the_case_workflow(entity, investigator, investigator2):
    """Issue 13: on a case, an exemption is requested while it is in review and by its assignee; nothing else."""
    decide(entity, "block")
    case = Case.objects.get(subject=entity)
    expires = today() + datetime.timedelta(days=30)

    def request(actor):
        return exemption_request(entity=entity, case=case, reason="Divestment agreed", expires_on=expires, actor=actor)

    with pytest.raises(ValidationError, match="only while it is in review"):
        request(investigator)  # still open: nobody has taken it
    case_start_review(case=case, actor=investigator)
    with pytest.raises(PermissionDenied, match="assignee"):
        request(investigator2)
    case_confirm_outcome(case=case, actor=investigator)
    with pytest.raises(ValidationError, match="only while it is in review"):
        request(investigator)  # closed
    assert not Exemption.objects.exists()
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
