"""Everything a decision's evidence report shows, read in one place (``cases.evidence_pdf`` draws it).

The report must stand on its own in front of a regulator: the customer, the decision with both methods'
intervals, reasons and contributing paths, the ownership graph as of the screening date (the same
selector as the admin's graph view), the sources of the records in it, every override and exemption
with both people, the replay verdict, and where the decision sits in the audit chain and which signed
checkpoint anchors it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from cases.models import AuditEvent, Customer, Decision, Entity, Exemption, Override, Relationship
from cases.selectors.graph import upstream_graph
from cases.services.audit_anchor import load_checkpoints
from cases.services.replay import Replay, decision_replay


@dataclass
class Evidence:
    decision: Decision
    customer: Customer | None
    graph: dict
    sources: list[dict]
    overrides: list[Override]
    exemptions: list[Exemption]
    replay: Replay
    audit_event: AuditEvent | None
    checkpoint: object  # audit_anchor.Checkpoint | None
    chain_ok: bool | None
    chain_problem: str
    generated_at: object = field(default_factory=timezone.now)


def decision_evidence(*, decision: Decision) -> Evidence:
    entity = decision.entity
    graph = upstream_graph(entity, as_of=decision.as_of)
    event = (
        AuditEvent.objects.filter(
            action="decision.changed",
            target_type="cases.entity",
            target_id=str(entity.pk),
            after__decision_id=decision.pk,
        )
        .order_by("seq")
        .first()
    )
    checkpoints, invalid = load_checkpoints()
    anchoring = None
    if event is not None:
        anchoring = next((checkpoint for checkpoint in checkpoints if checkpoint.seq >= event.seq), None)
    return Evidence(
        decision=decision,
        customer=Customer.objects.filter(entity=entity).first(),
        graph=graph,
        sources=_sources(graph),
        overrides=list(Override.objects.filter(decision=decision).select_related("proposed_by", "approved_by", "case")),
        exemptions=list(
            Exemption.objects.filter(entity=entity)
            .select_related("requested_by", "approved_by")
            .order_by("requested_at")
        ),
        replay=decision_replay(decision=decision),
        audit_event=event,
        checkpoint=anchoring,
        chain_ok=None if not invalid else False,
        chain_problem=invalid[0][1] if invalid else "",
    )


def _sources(graph: dict) -> list[dict]:
    """Provenance of each record drawn: the entity or relationship, its BODS statement, date and source."""
    entity_pks = [int(node["id"][1:]) for node in graph["nodes"] if node["kind"] == "entity"]
    relationship_pks = [int(edge["id"][1:]) for edge in graph["edges"] if edge["id"].startswith("r")]
    rows = []
    for kind, queryset in (
        ("entity", Entity.objects.filter(pk__in=entity_pks).order_by("external_id")),
        ("relationship", Relationship.objects.filter(pk__in=relationship_pks).order_by("external_id")),
    ):
        for record in queryset.only("external_id", "statement_id", "statement_date", "source"):
            source = record.source or {}
            rows.append(
                {
                    "kind": kind,
                    "record": record.external_id,
                    "statement": record.statement_id or "–",
                    "statement_date": record.statement_date.isoformat() if record.statement_date else "–",
                    "source": ", ".join(
                        str(part)
                        for part in (
                            ", ".join(source.get("type", [])) if isinstance(source.get("type"), list) else "",
                            source.get("description", ""),
                            source.get("url", ""),
                        )
                        if part
                    )
                    or "–",
                }
            )
    return rows
