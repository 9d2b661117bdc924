"""The case page's one timeline: notes, audit events and decision changes, newest first, in words."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

#: Audit action codes as an investigator reads them (the code stays visible as a tooltip for auditors).
ACTION_LABELS = {
    "case.opened": _("Case opened"),
    "case.assigned": _("Case assigned"),
    "case.unassigned": _("Case unassigned"),
    "case.review_started": _("Review started"),
    "case.note_added": _("Note added"),
    "case.evidence_added": _("Evidence file attached"),
    "case.link_added": _("Evidence link added"),
    "case.outcome_confirmed": _("Automatic outcome confirmed, case closed"),
    "case.closed_by_override": _("Case closed by an override"),
    "case.submitted_for_approval": _("Sent for a manager's approval"),
    "case.returned_to_review": _("Returned to review"),
    "case.reopened": _("Case reopened"),
    "case.escalated": _("Escalated: past its SLA"),
    "case.mentions_read": _("Mentions read"),
    "override.proposed": _("Override proposed"),
    "override.approved": _("Override approved"),
    "override.rejected": _("Override rejected"),
    "override.applied": _("Override applied"),
    "exemption.requested": _("Exemption requested"),
    "exemption.approved": _("Exemption approved"),
    "exemption.rejected": _("Exemption rejected"),
    "exemption.revoked": _("Exemption revoked"),
    "exemption.expired": _("Exemption expired"),
    "effective.changed": _("Effective decision changed"),
    "effective.removed": _("Effective decision removed"),
    "decision.changed": _("Screening decision changed"),
    "decision.removed": _("Screening decision removed"),
    "entity.created": _("Entity created"),
    "entity.updated": _("Entity changed"),
    "customer.registered": _("Customer registered"),
    "customer.updated": _("Customer changed"),
    "customer.activated": _("Customer re-activated"),
    "customer.deactivated": _("Customer deactivated"),
    "screening_request.submitted": _("Screening request received"),
}


def action_label(code: str) -> str:
    return str(ACTION_LABELS.get(code, code.replace("_", " ").replace(".", ": ")))


#: Audit events already shown as their own timeline entries (the note itself, the decision row).
SHOWN_ELSEWHERE = {"case.note_added", "decision.changed", "decision.removed"}


def case_timeline(*, notes, audit_events, decisions) -> list[dict]:
    """Every entry as ``{"when", "who", "kind", "title", "code", "text", "link"}``, newest first."""
    entries = [
        {
            "when": note.created_at,
            "who": _("system") if note.is_system else note.author.get_username(),
            "kind": "system" if note.is_system else "note",
            "title": _("System note") if note.is_system else _("Note"),
            "code": "",
            "text": note.text,
            "link": None,
        }
        for note in notes
    ]
    entries += [
        {
            "when": event.occurred_at,
            "who": event.actor_label,
            "kind": event.action.split(".")[0],
            "title": action_label(event.action),
            "code": event.action,
            "text": event.reason,
            "link": event.pk,
        }
        for event in audit_events
        if event.action not in SHOWN_ELSEWHERE
    ]
    entries += [
        {
            "when": row["decision"].computed_at,
            "who": _("screening"),
            "kind": "decision",
            "title": _("Screening decision"),
            "code": "",
            "text": "",
            "decision": row,
            "link": None,
        }
        for row in decisions
    ]
    return sorted(entries, key=lambda entry: entry["when"], reverse=True)
