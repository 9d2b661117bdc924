"""Each new decision's engine input, kept for point-in-time replay (``services.replay``).

Apart from ``replay`` because the screening adapter records inputs where it stores decisions,
while replay re-runs the adapter's own decision payload: one module each way keeps the import
graph acyclic.
"""

from __future__ import annotations

from cases.models import DecisionInput
from cases.ownership.snapshot import ClosureTooLarge, UpstreamIndex, snapshot_fingerprint, snapshot_of
from cases.selectors.screening_input import ScreeningInput
from cases.services.bulk_sql import TableWriter


def record_decision_inputs(*, data: ScreeningInput, nodes: list[int], decision_ids: list[int]) -> None:
    """Store each new decision's input snapshot (one raw multi-row insert)."""
    if not decision_ids:
        return
    index = upstream_index(data)
    rows = []
    for node, decision_id in zip(nodes, decision_ids, strict=True):
        try:
            snapshot = decision_input_snapshot(index, data, node)
        except ClosureTooLarge:
            continue  # replay reports that no input was kept
        rows.append({"decision_id": decision_id, "fingerprint": snapshot_fingerprint(snapshot), "snapshot": snapshot})
    TableWriter(DecisionInput).insert(["decision_id", "fingerprint", "snapshot"], rows)


def upstream_index(data: ScreeningInput) -> UpstreamIndex:
    """One index per loaded graph, shared by all its chunks (kept on the input object)."""
    index = getattr(data, "_upstream_index", None)
    if index is None:
        index = UpstreamIndex(data.graph)
        object.__setattr__(data, "_upstream_index", index)
    return index


def decision_input_snapshot(index: UpstreamIndex, data: ScreeningInput, node: int) -> dict:
    return snapshot_of(index, node, labels=data.external_ids, names=data.names, root_reasons=data.root_reasons)
