"""Each new decision's engine input, kept for point-in-time replay (``services.replay``).

Apart from ``replay`` because the screening adapter records inputs where it stores decisions,
while replay re-runs the adapter's own decision payload: one module each way keeps the import
graph acyclic.
"""

from __future__ import annotations

from cases.models import DecisionInput
from cases.ownership.snapshot import UpstreamIndex, snapshot_fingerprint, snapshot_of, snapshots_of
from cases.selectors.screening_columns import plain_column
from cases.selectors.screening_input import ScreeningInput
from cases.services.bulk_sql import TableWriter


def record_decision_inputs(*, data: ScreeningInput, nodes: list[int], decision_ids: list[int]) -> None:
    """Store each new decision's input snapshot (one raw multi-row insert).

    The chunk's snapshots are built together (``snapshots_of``: numpy over every closure, the same
    bytes as ``snapshot_of`` per decision). A closure past the cap keeps no input (replay says so).
    """
    if not decision_ids:
        return
    snapshots = snapshots_of(
        upstream_index(data),
        nodes,
        labels=plain_column(data.external_ids),
        names=plain_column(data.names),
        root_reasons=data.root_reasons,
    )
    rows = [
        (decision_id, snapshot_fingerprint(snapshot), snapshot)
        for decision_id, snapshot in zip(decision_ids, snapshots, strict=True)
        if snapshot is not None
    ]
    TableWriter(DecisionInput).insert_rows(["decision_id", "fingerprint", "snapshot"], rows)


def upstream_index(data: ScreeningInput) -> UpstreamIndex:
    """One index per loaded graph, shared by all its chunks (kept on the input object)."""
    index = getattr(data, "_upstream_index", None)
    if index is None:
        index = UpstreamIndex(data.graph)
        object.__setattr__(data, "_upstream_index", index)
    return index


def decision_input_snapshot(index: UpstreamIndex, data: ScreeningInput, node: int) -> dict:
    return snapshot_of(index, node, labels=data.external_ids, names=data.names, root_reasons=data.root_reasons)
