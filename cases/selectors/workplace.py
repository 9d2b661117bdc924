"""What an investigator or manager has to look at: the work queues and the home page, in a fixed number
of queries whatever the portfolio size (counts by aggregate, lists sliced in the database)."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from cases.models import (
    Case,
    CaseMention,
    CaseStatus,
    DecisionChangeEvent,
    Entity,
    Exemption,
    ExemptionStatus,
    Override,
    OverrideStatus,
    Person,
    RestrictedList,
    ScreeningPolicy,
)

#: How far ahead the home page warns about exemptions running out.
EXPIRY_WARNING_DAYS = 30
HOME_LIST_LENGTH = 8


def pending_approval_for(user) -> Q:
    """Cases waiting for a four-eyes decision this user may take (not their own proposals or requests)."""
    pending = Q(pk__in=[])
    if user.has_perm("cases.approve_override"):
        proposed = Override.objects.filter(case=OuterRef("pk"), status=OverrideStatus.PROPOSED).exclude(
            proposed_by=user
        )
        pending |= Q(status=CaseStatus.PENDING_APPROVAL) & Q(Exists(proposed))
    if user.has_perm("cases.approve_exemption"):
        requested = Exemption.objects.filter(case=OuterRef("pk"), status=ExemptionStatus.REQUESTED).exclude(
            requested_by=user
        )
        pending |= ~Q(status=CaseStatus.CLOSED) & Q(Exists(requested))
    return pending


def queue_filters(user, now: datetime.datetime) -> dict[str, Q]:
    not_closed = ~Q(status=CaseStatus.CLOSED)
    return {
        "mine": not_closed & Q(assignee=user),
        "unassigned": not_closed & Q(assignee__isnull=True),
        "overdue": not_closed & (Q(is_overdue=True) | Q(due_at__lt=now)),
        "pending_me": pending_approval_for(user),
        "open": not_closed,
    }


def queue_counts(user, now: datetime.datetime) -> dict[str, int]:
    filters = queue_filters(user, now)
    return Case.objects.aggregate(**{key: Count("pk", filter=q) for key, q in filters.items()})


def may_approve(user) -> bool:
    return user.has_perm("cases.approve_override") or user.has_perm("cases.approve_exemption")


@dataclass(frozen=True)
class Home:
    """The home page of one user: counts for every queue, and the first rows of the ones that need them."""

    counts: dict[str, int]
    my_cases: list[Case]
    overdue: list[Case]
    pending_me: list[Case]
    expiring: list[Exemption]
    expiring_count: int
    recent_changes: list[DecisionChangeEvent]
    mentions: list[CaseMention]


def home_for(user, *, now: datetime.datetime | None = None) -> Home:
    """Only what the user may view: without ``view_case`` no case is listed or counted, and so on."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    sees_cases = user.has_perm("cases.view_case")
    filters = queue_filters(user, now)
    cases = Case.objects.select_related("subject", "subject__current", "assignee")
    expiring = Exemption.objects.filter(
        status=ExemptionStatus.APPROVED,
        expires_on__gte=today,
        expires_on__lte=today + datetime.timedelta(days=EXPIRY_WARNING_DAYS),
    )
    sees_exemptions = user.has_perm("cases.view_exemption")

    def first(query: Q) -> list[Case]:
        return list(cases.filter(query).order_by("due_at", "pk")[:HOME_LIST_LENGTH]) if sees_cases else []

    return Home(
        counts=queue_counts(user, now) if sees_cases else dict.fromkeys(filters, 0),
        my_cases=first(filters["mine"]),
        overdue=first(filters["overdue"]),
        pending_me=first(filters["pending_me"]) if may_approve(user) else [],
        expiring=list(expiring.select_related("entity").order_by("expires_on", "pk")[:HOME_LIST_LENGTH])
        if sees_exemptions
        else [],
        expiring_count=expiring.count() if sees_exemptions else 0,
        recent_changes=list(DecisionChangeEvent.objects.select_related("entity").order_by("-seq")[:HOME_LIST_LENGTH])
        if user.has_perm("cases.view_decision")
        else [],
        mentions=list(
            CaseMention.objects.filter(user=user, read_at__isnull=True)
            .select_related("case", "note__author")
            .order_by("-created_at", "-id")[:HOME_LIST_LENGTH]
        )
        if sees_cases
        else [],
    )


def restricted_countries_by_decision(decisions) -> dict[int, list[str]]:
    """For each decision, the restricted countries its contributing paths start from (the restricted
    parties' registration, addresses, nationalities and residences), in two queries for a whole page."""
    roots_by_decision = {
        decision.pk: {path["nodes"][0] for path in (decision.payload or {}).get("paths", []) if path.get("nodes")}
        for decision in decisions
    }
    roots = set().union(*roots_by_decision.values()) if roots_by_decision else set()
    policy = ScreeningPolicy.objects.filter(is_active=True).prefetch_related("restricted_jurisdictions").first()
    if not roots or policy is None:
        return {pk: [] for pk in roots_by_decision}
    restricted = policy.restricted_country_codes()
    codes: dict[str, set[str]] = {}
    entity_rows = Entity.objects.filter(external_id__in=roots).values_list(
        "external_id", "jurisdiction_id", "registered_address_country_id", "business_address_countries"
    )
    for external_id, jurisdiction, registered, business in entity_rows:
        codes[external_id] = {jurisdiction, registered, *(business or [])}
    person_rows = Person.objects.filter(external_id__in=roots).values_list(
        "external_id", "nationalities", "residence_countries", "tax_residencies"
    )
    for external_id, *lists in person_rows:
        codes[external_id] = {code for values in lists for code in (values or [])}
    return {
        pk: sorted(
            {
                code.split("-")[0]
                for root in found
                for code in codes.get(root, ())
                if ScreeningPolicy.code_is_restricted(code, restricted)
            }
        )
        for pk, found in roots_by_decision.items()
    }


#: How a decision's reasons name a restricted-party list: "Listed on <name> (<edition>) as …" for the
#: subject itself, "Restricted party X: Listed on <name> …" for a party behind it (selectors.restricted_lists).
LISTED_ON = "Listed on "


def _names_list(reason: str, name: str) -> bool:
    return f"{LISTED_ON}{name} (" in reason or f"{LISTED_ON}{name} as " in reason


def restricted_lists_by_decision(decisions) -> dict[int, list[RestrictedList]]:
    """For each decision, the restricted-party lists its stored reasons name: the lists that drove the
    decision when it was made (not today's membership, which a later load may have changed). One query
    for a whole page, none when no reason names a list."""
    reasons_by_decision = {decision.pk: (decision.payload or {}).get("reasons", []) for decision in decisions}
    if not any(LISTED_ON in reason for reasons in reasons_by_decision.values() for reason in reasons):
        return {pk: [] for pk in reasons_by_decision}
    lists = list(RestrictedList.objects.only("code", "name", "version", "published_on").order_by("code"))
    return {
        pk: [rl for rl in lists if any(_names_list(reason, rl.name) for reason in reasons)]
        for pk, reasons in reasons_by_decision.items()
    }


def decision_names_list(restricted_list: RestrictedList) -> Q:
    """Cases whose subject's current decision names ``restricted_list`` in its reasons, on SQLite and
    PostgreSQL: the reasons array is compared as JSON text, where a name may appear escaped."""
    lookup = "subject__current__decision__payload__reasons__icontains"
    needle = f"{LISTED_ON}{restricted_list.name}"
    escaped = json.dumps(needle)[1:-1]
    return Q(**{lookup: needle}) | Q(**{lookup: escaped})
