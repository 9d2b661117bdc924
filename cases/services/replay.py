"""Point-in-time replay: re-run today's engine on the graph a stored decision saw, and say what differs.

Every decision stored since migration 0008 keeps its input (``DecisionInput``: its entity's upstream
closure as in force on the screening date, ``cases.ownership.snapshot``). A replay answers two questions
a regulator asks about "why was this customer allowed on 3 March":

* **same code?** today's engine, on exactly that input and the decision's policy version, gives the
  same outcome, figures, reasons and paths (``same_result``), or the diff field by field;
* **same data?** the ownership rows as they stand today, read for the decision's as-of date, still give
  that input (``input_fingerprint_match``); if not, the records behind that date have changed since.

The inputs are recorded by ``decision_inputs.record_decision_inputs`` where decisions are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cases.models import Decision, DecisionInput
from cases.ownership import screen
from cases.ownership.snapshot import (
    MAX_INPUT_NODES,
    ClosureTooLarge,
    UpstreamIndex,
    graph_from_snapshot,
    snapshot_fingerprint,
)
from cases.selectors.screening_input import PolicyView, ScreeningInput, load_screening_input
from cases.services.decision_inputs import decision_input_snapshot
from cases.services.screening import decision_payload, engine_policy


@dataclass(frozen=True)
class Difference:
    field: str
    stored: object
    replayed: object


@dataclass
class Replay:
    decision: Decision
    available: bool
    message: str = ""
    stored_fingerprint: str = ""
    snapshot_intact: bool = False
    replayed_payload: dict | None = None
    same_result: bool = False
    differences: list[Difference] = field(default_factory=list)
    today_fingerprint: str = ""
    input_fingerprint_match: bool = False
    input_nodes: int = 0
    input_edges: int = 0

    def as_json(self) -> dict:
        return {
            "decision": self.decision.pk,
            "entity": self.decision.entity.external_id,
            "as_of": self.decision.as_of.isoformat(),
            "computed_at": self.decision.computed_at.isoformat(),
            "policy_version": self.decision.policy.version,
            "available": self.available,
            "message": self.message,
            "input_fingerprint": self.stored_fingerprint or None,
            "snapshot_intact": self.snapshot_intact,
            "input_nodes": self.input_nodes,
            "input_edges": self.input_edges,
            "same_result": self.same_result,
            "stored": _stored_figures(self.decision),
            "replayed": _figures(self.replayed_payload) if self.replayed_payload else None,
            "differences": [{"field": d.field, "stored": d.stored, "replayed": d.replayed} for d in self.differences],
            "today_input_fingerprint": self.today_fingerprint or None,
            "input_fingerprint_match": self.input_fingerprint_match,
        }


def decision_replay(*, decision: Decision) -> Replay:
    """Replay ``decision`` (read-only: nothing is stored)."""
    stored = DecisionInput.objects.filter(decision=decision).first()
    if stored is None:
        return Replay(
            decision,
            available=False,
            message=(
                "No input was kept for this decision: stored before input snapshots (migration 0008), or its "
                f"upstream closure had more than {MAX_INPUT_NODES} parties."
            ),
        )
    snapshot = stored.snapshot
    replay = Replay(decision, available=True, stored_fingerprint=stored.fingerprint)
    replay.snapshot_intact = snapshot_fingerprint(snapshot) == stored.fingerprint
    rebuilt = graph_from_snapshot(snapshot)
    replay.input_nodes, replay.input_edges = rebuilt.graph.node_class.size, rebuilt.graph.owner.size
    data = ScreeningInput(
        graph=rebuilt.graph,
        entity_pk_by_node=np.full(rebuilt.graph.node_class.size, -1, dtype=np.int64),
        external_ids=rebuilt.labels,
        names=rebuilt.names,
        root_reasons=rebuilt.root_reasons,
    )
    result = screen(rebuilt.graph, engine_policy(decision.policy))
    replay.replayed_payload = decision_payload(
        result=result, data=data, node=rebuilt.target, as_of=decision.as_of, policy_version=decision.policy.version
    )
    replay.differences = payload_differences(decision.payload, replay.replayed_payload)
    replay.same_result = not replay.differences
    replay.today_fingerprint = _today_fingerprint(decision)
    replay.input_fingerprint_match = replay.today_fingerprint == stored.fingerprint
    if not replay.snapshot_intact:
        replay.message = "The stored input does not match its own fingerprint: it was altered after the decision."
    return replay


def _today_fingerprint(decision: Decision) -> str:
    """The fingerprint of the entity's input rebuilt from today's rows for the decision's date and policy."""
    data = load_screening_input(
        policy=PolicyView.of(decision.policy), as_of=decision.as_of, entity_ids=[decision.entity_id]
    )
    node = data.node_by_entity_pk.get(decision.entity_id)
    if node is None:
        return ""
    try:
        return snapshot_fingerprint(decision_input_snapshot(UpstreamIndex(data.graph), data, node))
    except ClosureTooLarge:
        return ""


def _stored_figures(decision: Decision) -> dict:
    """The decision's figures from its columns (every stored decision has them, whatever its payload holds)."""
    return {
        "outcome": decision.outcome,
        "look_through.outcome": decision.look_through_outcome,
        "look_through.low": decision.look_through_low,
        "look_through.high": decision.look_through_high,
        "control_chain.outcome": decision.control_chain_outcome,
        "control_chain.low": decision.control_chain_low,
        "control_chain.high": decision.control_chain_high,
    }


def _figures(payload: dict) -> dict:
    methods = payload["methods"]
    return {
        "outcome": payload["outcome"],
        **{
            f"{name}.{key}": methods[name][key]
            for name in ("look_through", "control_chain")
            for key in ("outcome", "low", "high")
        },
    }


def payload_differences(stored: dict, replayed: dict) -> list[Difference]:
    """Field-by-field differences that matter to a decision (not its screening date)."""
    stored_figures = _figures(stored) if "methods" in stored else {}
    differences = [
        Difference(name, stored_figures.get(name), value)
        for name, value in _figures(replayed).items()
        if stored_figures.get(name) != value
    ]
    if stored.get("reasons", []) != replayed.get("reasons", []):
        differences.append(Difference("reasons", stored.get("reasons", []), replayed.get("reasons", [])))
    stored_paths = [path["nodes"] for path in stored.get("paths", [])]
    replayed_paths = [path["nodes"] for path in replayed.get("paths", [])]
    if stored_paths != replayed_paths:
        differences.append(Difference("paths", stored_paths, replayed_paths))
    return differences
