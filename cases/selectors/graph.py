"""The upstream ownership subgraph of one entity, as nodes/edges JSON for the admin's graph.

A bounded breadth-first walk from the subject up through the relationships in force
on a date (not closed; at least one interest whose start/end dates include the day;
indirect summaries with component records are evidence only and skipped, exactly as
the screening input does). Each level costs two queries (relationships with their
parties, then their interests), so a page never costs more than
``2 * max_depth + 3`` queries, whatever the size of the graph.

Restricted flags come from the decisions, never recomputed here: a node is flagged
``restricted`` if it is the owner-most node of a contributing path of the subject's
current decision (those are the restricted roots the engine found), or if it is an
entity whose own current decision says it is a restricted root. Nodes and edges on
contributing paths are flagged ``on_path``.
"""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, Q
from django.urls import reverse

from cases.models import (
    CONTROL_INTERESTS,
    INDICATOR_INTERESTS,
    CurrentDecision,
    Entity,
    Interest,
    InterestType,
    Relationship,
)

DEFAULT_MAX_DEPTH = 8
DEFAULT_MAX_NODES = 150


def _entity_node_id(pk: int) -> str:
    return f"e{pk}"


def _interest_label(interest: Interest) -> str:
    if interest.interest_type == InterestType.SHAREHOLDING:
        return f"{interest.share_display or '? %'}".strip()
    if interest.interest_type == InterestType.VOTING_RIGHTS:
        return f"votes {interest.share_display or '? %'}".strip()
    return interest.get_interest_type_display().lower()


def _edge_label(interests: list[Interest]) -> str:
    shares = [i for i in interests if i.interest_type == InterestType.SHAREHOLDING]
    votes = [i for i in interests if i.interest_type == InterestType.VOTING_RIGHTS]
    parts = [_interest_label(i) for i in shares]
    # Votes equal to the shareholding add nothing to the picture.
    parts += [_interest_label(i) for i in votes if not shares or i.share_display != shares[0].share_display]
    parts += [
        _interest_label(i)
        for i in interests
        if i.interest_type not in (InterestType.SHAREHOLDING, InterestType.VOTING_RIGHTS)
    ]
    return " · ".join(dict.fromkeys(parts))


def _in_force(as_of: datetime.date) -> Q:
    return (Q(start_date__isnull=True) | Q(start_date__lte=as_of)) & (Q(end_date__isnull=True) | Q(end_date__gte=as_of))


def _admin_url(kind: str, pk: int) -> str:
    return reverse(f"admin:cases_{kind}_change", args=[pk])


def upstream_graph(
    entity: Entity,
    *,
    as_of: datetime.date | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> dict:
    """``{"nodes": [...], "edges": [...], "truncated": bool, ...}`` for ``entity``'s owners, upstream."""
    from django.utils import timezone

    as_of = as_of or timezone.localdate()
    current = CurrentDecision.objects.filter(entity=entity).select_related("decision").first()
    decision = current.decision if current else None
    paths = (decision.payload or {}).get("paths", []) if decision else []
    # Path nodes are external ids, owner-most first, subject last.
    root_ids = {str(p["nodes"][0]) for p in paths if p.get("nodes")}
    path_pairs = set()
    path_ids = set()
    for p in paths:
        ids = [str(n) for n in p.get("nodes", [])]
        path_ids.update(ids)
        path_pairs.update(zip(ids, ids[1:], strict=False))

    nodes: dict[str, dict] = {}
    edges: list[dict] = []
    entity_nodes: dict[int, dict] = {}

    def add_entity(e: Entity, depth: int) -> dict:
        node_id = _entity_node_id(e.pk)
        if node_id not in nodes:
            nodes[node_id] = entity_nodes[e.pk] = {
                "id": node_id,
                "kind": "entity",
                "label": e.name,
                "jurisdiction": e.jurisdiction_id or "",
                "external_id": e.external_id,
                "is_subject": e.pk == entity.pk,
                "listed": e.is_listed,
                "depth": depth,
                "url": _admin_url("entity", e.pk),
                "restricted": False,
                "outcome": None,
            }
        return nodes[node_id]

    add_entity(entity, 0)
    frontier = [entity.pk]
    seen = {entity.pk}
    truncated = False
    interests_in_force = Interest.objects.filter(_in_force(as_of)).order_by("interest_type", "pk")
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        relationships = (
            Relationship.objects.filter(subject_id__in=frontier, is_closed=False, component_record_ids=[])
            .select_related("interested_entity", "interested_person")
            .prefetch_related(Prefetch("interests", queryset=interests_in_force, to_attr="in_force"))
            .order_by("subject_id", "pk")
        )
        next_frontier = []
        for rel in relationships:
            if not rel.in_force:
                continue
            if len(nodes) >= max_nodes:
                truncated = True
                break
            if rel.interested_entity_id:
                owner = add_entity(rel.interested_entity, depth)
                if rel.interested_entity_id not in seen:
                    seen.add(rel.interested_entity_id)
                    next_frontier.append(rel.interested_entity_id)
            elif rel.interested_person_id:
                person = rel.interested_person
                node_id = f"p{person.pk}"
                owner = nodes.setdefault(
                    node_id,
                    {
                        "id": node_id,
                        "kind": "person",
                        "label": person.name or person.get_person_type_display(),
                        "jurisdiction": ",".join(person.nationalities or []),
                        "external_id": person.external_id,
                        "is_subject": False,
                        "depth": depth,
                        "url": _admin_url("person", person.pk),
                        "restricted": False,
                        "outcome": None,
                    },
                )
            else:
                node_id = f"u{rel.pk}"
                owner = nodes.setdefault(
                    node_id,
                    {
                        "id": node_id,
                        "kind": "unspecified",
                        "label": f"Unspecified: {rel.get_unspecified_reason_display()}",
                        "jurisdiction": "",
                        "external_id": f"unspecified:{rel.external_id}",
                        "is_subject": False,
                        "depth": depth,
                        "url": _admin_url("relationship", rel.pk),
                        "restricted": False,
                        "outcome": None,
                    },
                )
            subject_node = nodes[_entity_node_id(rel.subject_id)]
            edges.append(
                {
                    "id": f"r{rel.pk}",
                    "source": owner["id"],
                    "target": subject_node["id"],
                    "label": _edge_label(rel.in_force),
                    "control": any(i.interest_type in CONTROL_INTERESTS for i in rel.in_force),
                    "indicator": any(i.interest_type in INDICATOR_INTERESTS for i in rel.in_force),
                    "on_path": (owner["external_id"], subject_node["external_id"]) in path_pairs,
                    "url": _admin_url("relationship", rel.pk),
                }
            )
        frontier = next_frontier
        if truncated:
            break
    else:
        truncated = bool(frontier)

    # Each entity's own current decision: outcome badge and restricted-root flag (one query).
    for cd in (
        CurrentDecision.objects.filter(entity_id__in=list(entity_nodes))
        .select_related("decision")
        .only("entity_id", "outcome", "decision__is_restricted_root")
    ):
        node = entity_nodes[cd.entity_id]
        node["outcome"] = cd.outcome
        node["restricted"] = node["restricted"] or cd.decision.is_restricted_root
    for node in nodes.values():
        node["on_path"] = node["external_id"] in path_ids
        if node["external_id"] in root_ids and not node["is_subject"]:
            node["restricted"] = True

    return {
        "subject": _entity_node_id(entity.pk),
        "as_of": as_of.isoformat(),
        "decision_id": decision.pk if decision else None,
        "outcome": decision.outcome if decision else None,
        "nodes": list(nodes.values()),
        "edges": edges,
        "truncated": truncated,
        "max_depth": max_depth,
        "max_nodes": max_nodes,
    }
