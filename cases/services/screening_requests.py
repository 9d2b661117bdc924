"""Screening requests: a customer (entity + known owners) in, its effective decision out, in one call.

Owners come either as BODS 0.4 statements (validated and applied by the same
code as file imports, ``bods_import_statements``) or in a simple JSON form
(``owners``: a party, its interests). Everything — parties, relationships,
customer registration, screening, the effective decision and the case — happens
in one transaction, so a failed request leaves nothing behind.
"""

import datetime
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.bods import BodsError
from cases.models import CaseTrigger, Entity, Outcome, Person, Relationship
from cases.roles import require_perm

from .audit import audit_record
from .bods_import import bods_import_statements
from .cases import case_open
from .customers import customer_register
from .effective import effective_recompute
from .entities import entity_apply
from .feed import effective_body_for, open_case_reference
from .name_screening import name_screen_entity, needs_name_screening
from .ownership import ownership_changed
from .persons import person_apply
from .relationships import relationship_apply

# NUL cannot be stored by PostgreSQL, an unpaired surrogate cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_text(statements: list) -> str | None:
    """Where the first key or string value holding NUL or an unpaired surrogate is, else None.

    The BODS validator checks values too, but reports a NUL statementId by storing the message (a
    PostgreSQL DataError) and fails on such a character in a key (UnicodeEncodeError): both were 500s.
    Iterative: the JSON parser admits nesting close to the recursion limit.
    """
    stack = [(statement, position, "") for position, statement in reversed(list(enumerate(statements, 1)))]
    while stack:
        value, position, path = stack.pop()
        if isinstance(value, str):
            match = _UNSTORABLE.search(value)
            if match:
                kind = "a NUL character" if match.group() == "\x00" else "an unpaired UTF-16 surrogate"
                where = f"statement {position}: {path}" if path else f"statement {position}"
                return f"{where}: text contains {kind} (U+{ord(match.group()):04X}), which cannot be stored"
        elif isinstance(value, dict):
            items = []
            for key, item in value.items():  # the key first: a path shown in a message holds only checked keys
                items += [(key, position, f"{path} (a key)" if path else "a key"), (item, position, _join(path, key))]
            stack += reversed(items)
        elif isinstance(value, list):
            stack += reversed([(item, position, f"{path}[{index}]") for index, item in enumerate(value)])
    return None


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _upsert(model, apply, *, data: dict, field: str):
    external_id = (data or {}).get("external_id")
    if not external_id:
        raise ValidationError({field: "external_id is required."})
    existing = model.objects.select_for_update().filter(external_id=external_id).first()
    fields = {k: v for k, v in data.items() if k != "external_id"}
    if existing is None:
        return apply(model(external_id=external_id), fields)
    return apply(existing, fields) if fields.keys() - {"external_id"} else existing


def _save_entity(data: dict, field: str) -> Entity:
    return _upsert(Entity, lambda e, d: entity_apply(entity=e, data=d), data=data, field=field)


def _save_person(data: dict, field: str) -> Person:
    return _upsert(Person, lambda p, d: person_apply(person=p, data=d), data=data, field=field)


@transaction.atomic
def screening_request_submit(
    *,
    actor,
    customer_reference: str,
    entity: dict | None = None,
    entity_external_id: str | None = None,
    owners: list[dict] | None = None,
    bods: list[dict] | None = None,
    onboarded_on: datetime.date | None = None,
) -> dict:
    """Register/update the customer and its owners, screen it now, and return the outcome.

    Needs ``cases.add_customer`` plus ``add_entity``/``add_relationship`` for what it writes.
    Returns {"customer_created", "decision", "case"}: ``case`` is the open case's reference
    when the effective outcome needs review (review/block) or a case is open anyway.
    """
    require_perm(actor, "add_customer", "register customers")
    entity_ids: set[int] = set()
    person_ids: set[int] = set()
    if bods:
        require_perm(actor, "add_entity", "import BODS statements")
        require_perm(actor, "add_relationship", "import BODS statements")
        problem = _unstorable_text(bods)
        if problem:
            raise ValidationError({"bods": problem})
        try:
            summary = bods_import_statements(statements=bods, label=f"api:{customer_reference}")
        except BodsError as exc:
            raise ValidationError({"bods": exc.message}) from exc
        entity_ids |= summary.affected_entity_ids
    subject_id = (entity or {}).get("external_id") or entity_external_id
    if entity:
        require_perm(actor, "add_entity", "create entities")
        subject = _save_entity(entity, "entity")
    elif subject_id:
        subject = Entity.objects.filter(external_id=subject_id).first()
        if subject is None:
            raise ValidationError({"entity_external_id": f"No entity with external id {subject_id!r}."})
    else:
        raise ValidationError({"entity": "Give the customer entity (entity) or its external id (entity_external_id)."})
    entity_ids.add(subject.pk)
    for index, owner in enumerate(owners or []):
        require_perm(actor, "add_relationship", "create relationships")
        field = f"owners[{index}]"
        parties = {}
        if owner.get("entity"):
            parties["interested_entity"] = _save_entity(owner["entity"], f"{field}.entity").external_id
            entity_ids.add(Entity.objects.get(external_id=parties["interested_entity"]).pk)
        if owner.get("person"):
            person = _save_person(owner["person"], f"{field}.person")
            parties["interested_person"] = person.external_id
            person_ids.add(person.pk)
        if owner.get("unspecified_reason"):
            parties["unspecified_reason"] = owner["unspecified_reason"]
        party_id = parties.get("interested_entity") or parties.get("interested_person") or f"unspecified-{index}"
        relationship_id = owner.get("relationship_id") or f"{subject.external_id}~{party_id}"
        existing = Relationship.objects.select_for_update().filter(external_id=relationship_id).first()
        relationship = existing or Relationship(external_id=relationship_id)
        if relationship.pk and relationship.subject_id != subject.pk:
            raise ValidationError({f"{field}.relationship_id": f"{relationship_id!r} is about another entity."})
        relationship.is_closed = False
        relationship_apply(
            relationship=relationship,
            data={"subject": subject.external_id, **parties, "interests": owner.get("interests") or []},
        )
    customer, created = customer_register(
        entity=subject, customer_reference=customer_reference, onboarded_on=onboarded_on or timezone.localdate()
    )
    audit_record(
        actor=actor,
        action="screening_request.submitted",
        target=customer,
        after={"entity": subject.external_id, "customer_created": created, "owners": len(owners or [])},
    )
    ownership_changed(entity_ids=entity_ids, person_ids=person_ids, actor=actor)
    # A customer whose decision did not change (already screened before it became a customer) got no
    # decision_consequences call: bring its effective decision and case up to date here.
    effective = effective_recompute(entity=subject, actor=actor, reason="screening request")
    if effective is not None and effective.outcome in (Outcome.REVIEW, Outcome.BLOCK):
        case_open(subject=subject, trigger=CaseTrigger.API, actor=None, decision=effective.decision)
    if not owners and not bods and needs_name_screening(subject):
        # Only a name and a country: candidates from the lists and decided entities go to a case (never a block).
        name_screen_entity(entity=subject, actor=actor)
    return {
        "customer_reference": customer.customer_reference,
        "customer_created": created,
        "decision": effective_body_for(subject),
        "case": open_case_reference(subject),
    }
