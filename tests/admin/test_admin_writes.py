"""Every admin form writes through its service: each save leaves its audit event and asks for the re-screen.

The scenario (tests/admin/conftest.py): CN Holdco —55%→ H GmbH —80%→ Subject (customer CUST-S); clean
persons A (40 % of H) and B (20 % of Subject). Subject is blocked by the control chain.
"""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from cases.models import (
    ApiToken,
    AuditEvent,
    CurrentDecision,
    Customer,
    EffectiveDecision,
    Entity,
    Person,
    Relationship,
    RescreenRequest,
)
from cases.services.screening import downstream_entity_ids
from cases.services.tokens import token_create
from tests.factories import EntityFactory

from .conftest import client_for, make_user
from .forms import post_admin_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(db):
    """A superuser: the admin forms for parties are for data stewards, whose role the tests need not model."""
    return make_user(None, username="steward", is_superuser=True)


def audit_of(action: str, target) -> AuditEvent:
    return AuditEvent.objects.get(
        action=action, target_type=f"cases.{target._meta.model_name}", target_id=str(target.pk)
    )


def screened_at() -> dict[int, datetime.datetime]:
    """When each entity was last screened: taken before an edit, compared after it by ``rescreened``."""
    return dict(CurrentDecision.objects.values_list("entity_id", "screened_at"))


def rescreened(before: dict, *, entity_ids=(), person_ids=()) -> bool:
    """The edit asked for its re-screen: a durable request still names its seeds (worker, after commit),
    or everything downstream of them was screened again inline (the request then withdrew those seeds)."""
    requests = RescreenRequest.objects.all()
    if set(entity_ids) <= {pk for r in requests for pk in r.entity_ids} and set(person_ids) <= {
        pk for r in requests for pk in r.person_ids
    }:
        return True
    after = screened_at()
    affected = downstream_entity_ids(entity_ids, person_ids)
    return bool(affected) and all(pk in after and after[pk] != before.get(pk) for pk in affected)


def outcome_of(entity) -> str:
    return CurrentDecision.objects.get(entity=entity).outcome


def saved(response) -> None:
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    assert not errors, errors


# ------------------------------------------------------------------ entities


def test_entity_change_is_audited_and_rescreens_what_it_owns(scenario, editor):
    marks = screened_at()
    cn, subject = scenario["cn"], scenario["subject"]
    assert outcome_of(subject) == "block"
    saved(post_admin_form(client_for(editor), "entity", pk=cn.pk, changes={"jurisdiction": "DE"}))
    event = audit_of("entity.updated", cn)
    assert event.actor == editor
    assert (event.before["jurisdiction"], event.after["jurisdiction"]) == ("CN", "DE")
    assert rescreened(marks, entity_ids=[cn.pk])
    assert outcome_of(subject) != "block"  # nobody restricted is left above the subject


def test_entity_add_with_identifier_is_audited_and_screened(scenario, editor):
    marks = screened_at()
    response = post_admin_form(
        client_for(editor),
        "entity",
        changes={
            "name": "New Trading Ltd",
            "external_id": "new-trading",
            "entity_type": "registeredEntity",
            "jurisdiction": "RU",
            "identifiers-TOTAL_FORMS": "1",
            "identifiers-0-scheme": "GB-COH",
            "identifiers-0-value": "01234567",
        },
    )
    saved(response)
    entity = Entity.objects.get(external_id="new-trading")
    assert audit_of("entity.created", entity).after["identifiers"] == ["GB-COH:01234567"]
    assert rescreened(marks, entity_ids=[entity.pk])
    assert outcome_of(entity) == "block"  # a restricted root


# ------------------------------------------------------------------ persons


def test_person_change_is_audited_and_rescreens_what_they_own(scenario, editor):
    marks = screened_at()
    subject = scenario["subject"]
    person = Person.objects.get(name="Clean Person B")
    before = CurrentDecision.objects.get(entity=subject).decision
    saved(post_admin_form(client_for(editor), "person", pk=person.pk, changes={"nationalities": '["CN"]'}))
    event = audit_of("person.updated", person)
    assert event.actor == editor and event.after["nationalities"] == ["CN"]
    assert rescreened(marks, person_ids=[person.pk])
    after = CurrentDecision.objects.get(entity=subject).decision
    assert after.pk != before.pk and after.look_through_high > before.look_through_high


# ------------------------------------------------------------------ relationships and their interests


def _relationship(owner, subject) -> Relationship:
    return Relationship.objects.get(interested_entity=owner, subject=subject)


def test_interest_edit_is_audited_like_the_api_and_rescreens(scenario, editor):
    marks = screened_at()
    relationship = _relationship(scenario["cn"], scenario["holding"])
    response = post_admin_form(
        client_for(editor), "relationship", pk=relationship.pk, changes={"interests-0-share_exact": "30"}
    )
    saved(response)
    event = audit_of("relationship.updated", relationship)
    assert event.actor == editor
    assert event.before["interests"] != event.after["interests"]
    assert "30" in " ".join(event.after["interests"])
    assert rescreened(marks, entity_ids=[scenario["holding"].pk])
    assert outcome_of(scenario["subject"]) != "block"  # 30 % of H: no control, look-through 24 %


def test_relationship_add_is_audited_and_rescreens(scenario, editor):
    marks = screened_at()
    owner = EntityFactory(name="RU Parent", external_id="ru-parent", jurisdiction_id="RU")
    response = post_admin_form(
        client_for(editor),
        "relationship",
        changes={
            "external_id": "ru-parent~subject",
            "subject": str(scenario["cn"].pk),
            "interested_entity": str(owner.pk),
            "interests-TOTAL_FORMS": "1",
            "interests-0-interest_type": "shareholding",
            "interests-0-direct_or_indirect": "direct",
            "interests-0-share_exact": "60",
        },
    )
    saved(response)
    relationship = Relationship.objects.get(external_id="ru-parent~subject")
    assert audit_of("relationship.created", relationship).actor == editor
    assert rescreened(marks, entity_ids=[scenario["cn"].pk])


def test_closing_a_relationship_in_the_admin_is_audited(scenario, editor):
    relationship = _relationship(scenario["cn"], scenario["holding"])
    client_for(editor).post(
        "/admin/cases/relationship/",
        {"action": "close_selected", "_selected_action": [relationship.pk]},
    )
    relationship.refresh_from_db()
    assert relationship.is_closed
    assert audit_of("relationship.closed", relationship).actor == editor
    assert outcome_of(scenario["subject"]) != "block"


def test_a_service_refusal_rolls_the_admin_save_back_with_a_message(scenario, editor):
    relationship = _relationship(scenario["cn"], scenario["holding"])
    response = post_admin_form(
        client_for(editor), "relationship", pk=relationship.pk, changes={"interests-0-DELETE": "on"}
    )
    assert response.status_code == 302
    assert any("at least one interest" in str(m) for m in get_messages(response.wsgi_request))
    assert relationship.interests.count() == 1
    assert not AuditEvent.objects.filter(action="relationship.updated").exists()


# ------------------------------------------------------------------ customers


def test_customer_deactivation_and_reactivation_are_audited_and_recompute(scenario, editor):
    marks = screened_at()
    customer = scenario["customer"]
    client = client_for(editor)
    saved(post_admin_form(client, "customer", pk=customer.pk, changes={"is_active": None}))
    customer.refresh_from_db()
    assert not customer.is_active
    assert audit_of("customer.deactivated", customer).actor == editor
    saved(post_admin_form(client, "customer", pk=customer.pk, changes={"is_active": "on"}))
    event = audit_of("customer.activated", customer)
    assert (event.before["is_active"], event.after["is_active"]) == (False, True)
    assert rescreened(marks, entity_ids=[customer.entity_id])
    assert EffectiveDecision.objects.get(entity=customer.entity).outcome == "block"


def test_customer_registration_in_the_admin_is_audited_and_screened(scenario, editor):
    marks = screened_at()
    entity = scenario["holding"]
    response = post_admin_form(
        client_for(editor),
        "customer",
        changes={"entity": str(entity.pk), "customer_reference": "CUST-H", "onboarded_on": "2026-01-05"},
    )
    saved(response)
    customer = Customer.objects.get(customer_reference="CUST-H")
    assert audit_of("customer.registered", customer).actor == editor
    assert rescreened(marks, entity_ids=[entity.pk])


# ------------------------------------------------------------------ API tokens


def test_token_rename_is_audited(scenario, editor):
    token, _ = token_create(user=editor, name="billing sync", actor=None)
    changes = {"name": "billing sync (EU)", "description": "EU instance"}
    saved(post_admin_form(client_for(editor), "apitoken", pk=token.pk, changes=changes))
    event = audit_of("api_token.updated", token)
    assert (event.before["name"], event.after["name"]) == ("billing sync", "billing sync (EU)")
    assert ApiToken.objects.get(pk=token.pk).description == "EU instance"


def test_token_expiry_in_the_past_is_refused_with_a_message(scenario, editor):
    token, _ = token_create(user=editor, name="billing", actor=None)
    past = timezone.localtime() - datetime.timedelta(days=1)
    response = post_admin_form(
        client_for(editor),
        "apitoken",
        pk=token.pk,
        changes={"expires_at_0": past.date().isoformat(), "expires_at_1": "10:00:00"},
    )
    assert any("expiry must be in the future" in str(m) for m in get_messages(response.wsgi_request))
    assert ApiToken.objects.get(pk=token.pk).expires_at is None


# ------------------------------------------------------------------ constraints in the user's words


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"interests-0-share_exact": "150"}, "share_exact", "A share is a percentage from 0 to 100."),
        (
            {"interests-0-share_exact": "", "interests-0-share_minimum": "60", "interests-0-share_maximum": "40"},
            "share_maximum",
            "The maximum share cannot be below the minimum.",
        ),
        (
            {"interests-0-start_date": "2026-05-01", "interests-0-end_date": "2026-01-01"},
            "end_date",
            "The end date cannot be before the start date.",
        ),
    ],
)
def test_a_violated_interest_constraint_is_a_field_error_in_words(scenario, editor, changes, field, message):
    relationship = _relationship(scenario["cn"], scenario["holding"])
    response = post_admin_form(client_for(editor), "relationship", pk=relationship.pk, changes=changes)
    assert response.status_code == 200
    interest_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert interest_form.errors[field] == [message]
    assert "is violated" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="relationship.updated").exists()


def test_an_entity_owning_itself_is_a_field_error_in_words(scenario, editor):
    relationship = _relationship(scenario["cn"], scenario["holding"])
    changes = {"interested_entity": str(scenario["holding"].pk)}
    response = post_admin_form(client_for(editor), "relationship", pk=relationship.pk, changes=changes)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["interested_entity"] == ["An entity cannot own itself."]
