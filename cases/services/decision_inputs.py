"""Each new decision's engine input, kept for point-in-time replay (``services.replay``).

Apart from ``replay`` because the screening adapter records inputs where it stores decisions,
while replay re-runs the adapter's own decision payload: one module each way keeps the import
graph acyclic.
"""

from __future__ import annotations

from collections.abc import Mapping

from cases.json_text import json_text
from cases.models import DecisionInput
from cases.ownership.snapshot import UpstreamIndex, snapshot_fingerprint, snapshot_of, snapshots_of
from cases.selectors.screening_columns import plain_column
from cases.selectors.screening_input import ScreeningInput
from cases.services.bulk_sql import TableWriter

#: A decision input ready to store: the snapshot's fingerprint and JSON text; ``None`` past the closure cap.
PreparedInput = tuple[str, str] | None


def record_decision_inputs(
    *,
    data: ScreeningInput,
    nodes: list[int],
    decision_ids: list[int],
    prepared: Mapping[int, tuple[object, PreparedInput]] | None = None,
) -> None:
    """Store each new decision's input snapshot (one raw multi-row insert).

    ``prepared`` (node -> (decision, input), from the portfolio explainer) holds inputs prepared in
    another process; the others are built here, the chunk's together (``prepared_inputs``). A closure past
    the cap keeps no input (replay says so).
    """
    if not decision_ids:
        return
    prepared = prepared or {}
    missing = [node for node in nodes if node not in prepared]
    built = dict(zip(missing, prepared_inputs(data=data, nodes=missing), strict=True)) if missing else {}
    rows = []
    for decision_id, node in zip(decision_ids, nodes, strict=True):
        ready = prepared[node][1] if node in prepared else built[node]
        if ready is not None:
            rows.append((decision_id, *ready))
    TableWriter(DecisionInput, adapted=["snapshot"]).insert_rows(["decision_id", "fingerprint", "snapshot"], rows)


def prepared_inputs(*, data: ScreeningInput, nodes) -> list[PreparedInput]:
    """The input snapshots of ``nodes``, built together (``snapshots_of``: numpy over every closure, the same
    bytes as ``snapshot_of`` per decision), as fingerprint and the JSON text ``TableWriter`` would write."""
    snapshots = snapshots_of(
        upstream_index(data),
        nodes,
        labels=plain_column(data.external_ids),
        names=plain_column(data.names),
        root_reasons=data.root_reasons,
    )
    return [None if shot is None else (snapshot_fingerprint(shot), json_text(shot)) for shot in snapshots]


def upstream_index(data: ScreeningInput) -> UpstreamIndex:
    """One index per loaded graph, shared by all its chunks (kept on the input object)."""
    index = getattr(data, "_upstream_index", None)
    if index is None:
        index = UpstreamIndex(data.graph)
        object.__setattr__(data, "_upstream_index", index)
    return index


def decision_input_snapshot(index: UpstreamIndex, data: ScreeningInput, node: int) -> dict:
    return snapshot_of(index, node, labels=data.external_ids, names=data.names, root_reasons=data.root_reasons)
