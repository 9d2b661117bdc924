"""Four-eyes: who may approve or reject what another person proposed.

Overrides that loosen an outcome and exemptions are decided by a second person: someone holding
the approving permission who is not the author. Superusers are no exception (the database
constraints ``override_four_eyes`` and ``exemption_four_eyes`` say the same). The predicates
here are what the admin and the API show as allowed; the ``require_*`` checks are what the
override and exemption services enforce, so the two cannot drift apart.
"""

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from cases.models import Exemption, ExemptionStatus, Override, OverrideStatus
from cases.roles import require_perm

from .audit import audit_record


def is_second_person(*, user, permission: str, author_id: int | None) -> bool:
    return user.has_perm(f"cases.{permission}") and author_id != user.pk


def require_second_person(*, actor, permission: str, author_id: int | None, author: str, noun: str, verb: str):
    """Refuse the actor unless they hold ``permission`` and did not write the ``noun`` themselves."""
    require_perm(actor, permission, f"{verb} {noun}s")
    if author_id == actor.pk:
        raise PermissionDenied(f"Four-eyes: the {author} cannot {verb} their own {noun}.")


def override_may_decide(*, override: Override, user) -> bool:
    """A proposed override this user may approve or reject."""
    return override.status == OverrideStatus.PROPOSED and is_second_person(
        user=user, permission="approve_override", author_id=override.proposed_by_id
    )


def exemption_may_decide(*, exemption: Exemption, user) -> bool:
    """A requested exemption this user may approve or reject."""
    return exemption.status == ExemptionStatus.REQUESTED and is_second_person(
        user=user, permission="approve_exemption", author_id=exemption.requested_by_id
    )


def exemption_may_revoke(*, exemption: Exemption, user) -> bool:
    """Revoking ends an allow early: it only makes screening stricter, so it needs no second person."""
    return exemption.status == ExemptionStatus.APPROVED and user.has_perm("cases.approve_exemption")


def record_second_person_decision(
    obj, *, actor, status: str, note: str, action: str, snapshot, **fields_to_set
) -> None:
    """Store a manager's approval or rejection of an override or exemption, with its audit event.

    The manager's note is both the event's reason and part of its after-state: the trail has to say
    why a second person agreed or refused, not only that they did.
    """
    before = snapshot(obj)
    for name, value in fields_to_set.items():
        setattr(obj, name, value)
    obj.approved_by = actor
    obj.decided_at = timezone.now()
    obj.decision_note = (note or "").strip()
    obj.status = status
    obj.full_clean()
    obj.save()
    audit_record(actor=actor, action=action, target=obj, before=before, after=snapshot(obj), reason=obj.decision_note)
