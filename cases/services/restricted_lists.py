"""Load restricted-party lists: a whole edition replaces the previous one, atomically, with an audit event.

An authority publishes a list as a whole (an edition), so a load replaces every member
of the list: members removed from the list stop restricting, new ones start. The
entities whose membership (or whose list's edition, named in their reasons) changed are
queued for re-screening in the same transaction, and nothing else.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import RestrictedList, RestrictedListIdentifier, RestrictedListMember
from cases.selectors.restricted_lists import entity_memberships, person_memberships
from cases.services.audit import audit_record
from cases.services.import_runs import SourceImportSummary, finish_run, import_run
from cases.services.rescreen import rescreen_request
from cases.sources.errors import SourceError
from cases.sources.lists import MemberData, read_list_csv


@dataclass
class ListLoadSummary:
    restricted_list: str
    members_before: int = 0
    members_after: int = 0
    affected_entity_ids: set[int] = field(default_factory=set)
    affected_person_ids: set[int] = field(default_factory=set)


def _matched(restricted_list: RestrictedList) -> tuple[set[tuple], set[tuple]]:
    ids = [restricted_list.pk]
    entities = {(pk, m) for pk, ms in entity_memberships(list_ids=ids).items() for m in ms}
    persons = {(pk, m) for pk, ms in person_memberships(list_ids=ids).items() for m in ms}
    return entities, persons


@transaction.atomic
def restricted_list_load(
    *,
    restricted_list: RestrictedList,
    members: Iterable[MemberData],
    file_label: str,
    version: str = "",
    published_on: datetime.date | None = None,
    actor=None,
    system: str = "csv",
) -> ListLoadSummary:
    """Replace the members of ``restricted_list`` with ``members`` (one edition of the list)."""
    restricted_list = RestrictedList.objects.select_for_update().get(pk=restricted_list.pk)
    before_entities, before_persons = _matched(restricted_list)
    before = {
        "version": restricted_list.version,
        "published_on": restricted_list.published_on,
        "members": restricted_list.members.count(),
        "loaded_from": restricted_list.loaded_from,
    }
    restricted_list.members.all().delete()
    now = timezone.now()
    rows, identifiers = [], []
    for member in members:
        rows.append(
            RestrictedListMember(
                restricted_list=restricted_list,
                record_id=member.record_id[:255],
                name=member.name[:500],
                aliases=member.aliases,
                countries=member.countries,
                listed_on=member.listed_on,
                source={
                    **member.source,
                    "system": system,
                    "file": file_label,
                    "line": member.line,
                    "loadedAt": now.isoformat(),
                },
            )
        )
        identifiers.append(member.identifiers)
    for row in rows:
        row.full_clean(exclude={"restricted_list"}, validate_unique=False, validate_constraints=False)
    created = RestrictedListMember.objects.bulk_create(rows, batch_size=2000)
    RestrictedListIdentifier.objects.bulk_create(
        [
            RestrictedListIdentifier(member=member, scheme=scheme[:100], value=value[:255])
            for member, keys in zip(created, identifiers, strict=True)
            for scheme, value in dict.fromkeys(keys)
        ],
        batch_size=2000,
    )
    restricted_list.version = version[:100]
    restricted_list.published_on = published_on
    restricted_list.loaded_from = file_label[:1000]
    restricted_list.loaded_at = now
    restricted_list.full_clean()
    restricted_list.save()
    after_entities, after_persons = _matched(restricted_list)
    summary = ListLoadSummary(
        restricted_list=restricted_list.code,
        members_before=before["members"],
        members_after=len(created),
        affected_entity_ids={pk for pk, _ in before_entities ^ after_entities},
        affected_person_ids={pk for pk, _ in before_persons ^ after_persons},
    )
    audit_record(
        actor=actor,
        action="restricted_list.loaded",
        target=restricted_list,
        before=before,
        after={
            "version": restricted_list.version,
            "published_on": published_on,
            "members": len(created),
            "loaded_from": restricted_list.loaded_from,
            "entities_rescreened": len(summary.affected_entity_ids),
        },
        reason=f"loaded from {file_label}",
    )
    rescreen_request(entity_ids=summary.affected_entity_ids, person_ids=summary.affected_person_ids, trigger="import")
    return summary


def restricted_list_import_csv(
    *, path: str | Path, list_code: str, version: str = "", published_on: datetime.date | None = None, actor=None
) -> tuple[SourceImportSummary, ListLoadSummary]:
    """Load one edition of a list from a plain CSV; a bad row rejects the file (nothing changes)."""
    path = Path(path)
    restricted_list = RestrictedList.objects.filter(code=list_code).first()
    if restricted_list is None:
        known = ", ".join(RestrictedList.objects.order_by("code").values_list("code", flat=True))
        raise ValidationError({"list": f"No restricted list {list_code!r} (known: {known})."})
    with import_run(path) as run:
        members = list(read_list_csv(path))
        if not members:
            raise SourceError("the file contains no members")
        loaded = restricted_list_load(
            restricted_list=restricted_list,
            members=members,
            file_label=path.name,
            version=version,
            published_on=published_on,
            actor=actor,
        )
        summary = SourceImportSummary(
            file_name=str(path),
            import_run_id=run.pk,
            kind="restricted_list",
            records_read=len(members),
            counts={"members": len(members)},
        )
        finish_run(run, summary)
    return summary, loaded
