"""Import FollowTheMoney JSON lines (OpenSanctions / yente exports) into the graph and the lists.

Companies, organisations, legal entities and public bodies become entities keyed on their
FtM id (and their LEIs, so GLEIF and BODS records of the same company are the same
entity); persons become persons; ``Ownership`` and ``Directorship`` become relationships.
An entity of a dataset that a restricted list names (``RestrictedList.ftm_datasets``,
e.g. ``us_dod_chinese_milcorps`` for the 1260H list) is a member of that list: the file
is that list's current edition, so the list's members are replaced by the file's; an
entity the file shows outside a list's datasets leaves that list (a delisting).

One file is one transaction; a bad line rejects it with its line, id and property.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import IO

from cases.models import RestrictedList, RestrictedListMember
from cases.services.import_runs import (
    BATCH_SIZE,
    SourceImportSummary,
    file_date,
    finish_run,
    import_run,
    open_prepared,
    with_progress_batches,
)
from cases.services.restricted_lists import restricted_list_load
from cases.services.source_import import SourceWriter
from cases.sources.errors import SourceError
from cases.sources.ftm.prepare import MEMBER, ftm_records
from cases.sources.lists import MemberData
from cases.sources.prepared import ReadyEntity, ReadyPerson, ReadyRelationship


def ftm_import_file(*, path: str | Path, stdout: IO[str] | None = None, progress: bool = True) -> SourceImportSummary:
    """Validate and apply one FtM file; raises ``SourceImportError`` (and records a failed run) if invalid.

    Lines are parsed, validated, mapped and encoded, and their list memberships worked out, in a
    reader process (``open_prepared``) a batch ahead of this one, which resolves and writes.
    """
    path = Path(path)
    with import_run(path) as run:
        summary = SourceImportSummary(file_name=str(path), import_run_id=run.pk, kind="ftm")
        writer = SourceWriter(run=run, system="ftm", file_label=path.name, file_date=file_date(path))
        members: dict[int, list[MemberData]] = defaultdict(list)
        delisted: dict[int, set[str]] = defaultdict(set)
        records = ftm_records(
            path,
            writer.encoding(),
            BATCH_SIZE,
            lists_by_dataset=_lists_by_dataset(),
            current_members=_current_ftm_members(),
        )
        batches = open_prepared(records, path=path)
        try:
            for batch in with_progress_batches(batches, stdout=stdout, enabled=progress, desc=path.name):
                summary.records_read += batch.read
                summary.records_ignored += batch.read - len(batch.ready)
                by_kind: dict[type, list] = {ReadyEntity: [], ReadyPerson: [], ReadyRelationship: []}
                for item in batch.ready:
                    by_kind[type(item)].append(item)
                writer.write_entities(by_kind[ReadyEntity])
                writer.write_persons(by_kind[ReadyPerson])
                writer.write_relationships(by_kind[ReadyRelationship])
                for what, list_id, value in batch.extra:
                    if what == MEMBER:
                        members[list_id].append(value)
                    else:
                        delisted[list_id].add(value)
        finally:
            batches.close()
        writer.finish()
        if summary.records_read == 0:
            raise SourceError("the file contains no entities")
        summary.counts = writer.summary.as_dict()
        summary.counts["list_members"] = _load_lists(members, path, summary)
        summary.counts["list_members_removed"] = _remove_delisted(
            {pk: ids for pk, ids in delisted.items() if pk not in members}, path, summary
        )
        # The lists' changes (in ``summary`` so far) join the file's own in one request.
        entity_ids, person_ids = writer.request_rescreen(
            entity_ids=summary.affected_entity_ids, person_ids=summary.affected_person_ids
        )
        summary.set_affected(entity_ids, person_ids)
        finish_run(run, summary)
    return summary


def _lists_by_dataset() -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for pk, datasets in RestrictedList.objects.values_list("pk", "ftm_datasets"):
        for dataset in datasets or []:
            out[dataset].append(pk)
    return out


def _current_ftm_members() -> dict[int, set[str]]:
    """Record ids of the members each list got from FtM files (lists are small: thousands of rows)."""
    current: dict[int, set[str]] = defaultdict(set)
    for list_id, record_id in RestrictedListMember.objects.filter(source__system="ftm").values_list(
        "restricted_list_id", "record_id"
    ):
        current[list_id].add(record_id)
    return current


def _remove_delisted(delisted: dict[int, set[str]], path: Path, summary: SourceImportSummary) -> dict[str, int]:
    """Lists this file has no members of, but which it shows members left: the same edition minus those."""
    removed = {}
    for restricted_list in RestrictedList.objects.filter(pk__in=list(delisted)):
        keep = [
            _stored_member(member)
            for member in restricted_list.members.prefetch_related("identifiers")
            if member.record_id not in delisted[restricted_list.pk]
        ]
        result = restricted_list_load(
            restricted_list=restricted_list,
            members=keep,
            file_label=path.name,
            version=restricted_list.version,
            published_on=restricted_list.published_on,
            system="ftm",
        )
        summary.affected_entity_ids |= result.affected_entity_ids
        summary.affected_person_ids |= result.affected_person_ids
        removed[restricted_list.code] = result.members_before - result.members_after
    return removed


def _stored_member(member: RestrictedListMember) -> MemberData:
    return MemberData(
        record_id=member.record_id,
        name=member.name,
        line=(member.source or {}).get("line", 0),
        aliases=member.aliases,
        countries=member.countries,
        identifiers=[(i.scheme, i.value) for i in member.identifiers.all()],
        listed_on=member.listed_on,
        source={k: v for k, v in (member.source or {}).items() if k in ("datasets", "topics", "schema")},
    )


def _load_lists(members: dict[int, list[MemberData]], path: Path, summary: SourceImportSummary) -> dict[str, int]:
    """Each list with members in this file gets the file's members as its new edition."""
    loaded = {}
    for restricted_list in RestrictedList.objects.filter(pk__in=list(members)):
        result = restricted_list_load(
            restricted_list=restricted_list,
            members=members[restricted_list.pk],
            file_label=path.name,
            version=file_date(path),
            system="ftm",
        )
        summary.affected_entity_ids |= result.affected_entity_ids
        summary.affected_person_ids |= result.affected_person_ids
        loaded[restricted_list.code] = result.members_after
    return loaded
