"""The investigator's own workplace: saved queue filters and reading @mentions. Each write is audited
like every other, so the trail shows who was told about a case and when they read it."""

from urllib.parse import parse_qsl, urlencode

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import Case, CaseMention, SavedQueueFilter
from cases.roles import require_perm

from .audit import audit_record

#: Query parameters that are not a filter (paging, the admin's popup and action bookkeeping).
NOT_A_FILTER = {"p", "_popup", "_to_field", "e"}


def clean_queue_query(query: str) -> str:
    pairs = [
        (key, value) for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=False) if key not in NOT_A_FILTER
    ]
    return urlencode(pairs)


@transaction.atomic
def queue_filter_save(*, user, name: str, query: str) -> SavedQueueFilter:
    """Keep the current work-queue query under ``name`` for ``user`` (``cases.view_case``); same name replaces."""
    require_perm(user, "view_case", "save queue filters")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the filter a name."})
    saved = SavedQueueFilter.objects.filter(user=user, name=name).first() or SavedQueueFilter(user=user, name=name)
    before = {"name": saved.name, "query": saved.query} if saved.pk else None
    saved.query = clean_queue_query(query or "")
    saved.full_clean()
    try:
        with transaction.atomic():
            saved.save()
    except IntegrityError as exc:
        raise ValidationError({"name": f"You already have a filter named {name!r}."}) from exc
    audit_record(
        actor=user, action="queue_filter.saved", target=saved, before=before, after={"name": name, "query": saved.query}
    )
    return saved


@transaction.atomic
def queue_filter_delete(*, saved_filter: SavedQueueFilter, user) -> None:
    if saved_filter.user_id != user.pk:
        raise PermissionDenied("Only its owner can delete a saved filter.")
    audit_record(
        actor=user,
        action="queue_filter.deleted",
        target=saved_filter,
        before={"name": saved_filter.name, "query": saved_filter.query},
    )
    saved_filter.delete()


@transaction.atomic
def mentions_mark_read(*, case: Case, actor) -> int:
    """Mark ``actor``'s unread mentions on ``case`` as read; returns how many."""
    require_perm(actor, "view_case", "read mentions")
    unread = list(CaseMention.objects.filter(case=case, user=actor, read_at__isnull=True).values_list("pk", flat=True))
    if not unread:
        return 0  # nothing to write: a stray click changes nothing
    count = CaseMention.objects.filter(pk__in=unread).update(read_at=timezone.now())
    audit_record(actor=actor, action="case.mentions_read", target=case, after={"count": count})
    return count
