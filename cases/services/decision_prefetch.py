"""Explain a whole-graph run's new decisions in a second process while this one stores them.

A first portfolio run (every decision new) spends about a third of its time on work that depends on
nothing but the engine's result, already in memory: each decision's explanation, its JSON text and
fingerprint, and its replay snapshot. The rest — locks, the race checks against the current decisions,
the inserts, the audit chain, the commits — needs the database and runs in order. On one process the
two kinds take turns on one core while the other core idles; here a forked *explainer* process walks
the portfolio's slow entities in id order (the order chunks are cut) and sends what it prepared, while
this process stores the chunk before. A thread drains the pipe as batches arrive, so the explainer is
never held up by a long write; the queue is bounded, so memory is too.

What the explainer sends is a cache of pure functions of the run's result: ``store_portfolio_part``
asks for a chunk's nodes and computes itself whatever did not come (a node whose decision moved since
the read, a range taken out of order, an explainer that died), so the stored rows are the same bytes
either way. The explainer never touches the database: the labels are read before the fork, and it lets
go of every inherited database socket as the import readers do (``cases.bods.pipeline``).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.conf import settings

from cases.bods.pipeline import open_batches
from cases.collector import cyclic_gc_paused
from cases.selectors.screening_columns import plain_column
from cases.services.decision_inputs import PreparedInput, prepared_inputs, upstream_index
from cases.services.screening import PortfolioScreening, PreparedDecision, decision_payloads, prepared_decision

logger = logging.getLogger(__name__)

#: Nodes explained per message: large enough to amortise a pickle and a wake-up, small enough that the
#: first chunk's wait ends soon.
BATCH_NODES = 2000
#: Messages the drain thread holds at most: a little over one whole-graph chunk (25 000 entities) ahead.
AHEAD_BATCHES = 16

#: What the explainer prepares for one node: its decision and its replay input (``None``: past the cap).
Prepared = tuple[PreparedDecision, PreparedInput]


def prepare_nodes(screening: PortfolioScreening, nodes) -> list[Prepared]:
    """What storing the decisions of ``nodes`` needs from the run's result alone, in ``nodes`` order."""
    p = screening
    payloads = decision_payloads(
        result=p.result, data=p.data, nodes=nodes, as_of=p.as_of, policy_version=p.policy.version
    )
    decisions = [prepared_decision(payload) for payload in payloads]
    return list(zip(decisions, prepared_inputs(data=p.data, nodes=nodes), strict=True))


class _ExplainSource:
    """Runs in the explainer: the prepared decisions of ``nodes`` (ascending), ``BATCH_NODES`` at a time."""

    def __init__(self, screening: PortfolioScreening, nodes: np.ndarray):
        self._screening = screening
        self._nodes = nodes

    def batches(self) -> Iterator[list[tuple[list[int], list[Prepared]]]]:
        with cyclic_gc_paused():  # hundreds of thousands of payload dicts, no cycles
            upstream_index(self._screening.data)
            for start in range(0, self._nodes.size, BATCH_NODES):
                part = self._nodes[start : start + BATCH_NODES]
                yield [(part.tolist(), prepare_nodes(self._screening, part))]

    def result(self) -> None:
        return None


class DecisionPrefetch:
    """This process's end: ``take`` a chunk's prepared decisions as the explainer delivers them."""

    def __init__(self, screening: PortfolioScreening, nodes: np.ndarray, *, first_node: int):
        self._screening = screening
        #: The first node the explainer prepares; this process prepares the slow nodes before it.
        self.first_node = first_node
        data = screening.data
        # Read in this process before the fork: the explainer must not touch the database.
        plain_column(data.names)
        plain_column(data.external_ids)
        data.node_by_external_id  # noqa: B018 - a cached property, built once here rather than in both processes
        explained = nodes[np.searchsorted(nodes, first_node) :]
        self._reader = open_batches(_ExplainSource(screening, explained), in_reader=True, name="screen-explainer")
        self._messages: queue.Queue = queue.Queue(maxsize=AHEAD_BATCHES)
        self._stopping = threading.Event()
        self._ready: dict[int, Prepared] = {}
        self._received_up_to = -1  # the highest node received so far
        self._finished = False
        self._thread = threading.Thread(target=self._drain, name="screen-explainer-drain", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            for batch in self._reader:
                if not self._put(("batch", batch)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the storing thread, which computes the rest itself
            self._put(("error", exc))

    def _put(self, message) -> bool:
        while not self._stopping.is_set():
            try:
                self._messages.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def take(self, nodes: list[int], *, up_to: int) -> dict[int, Prepared]:
        """The prepared decisions among ``nodes``, waiting for the explainer up to node ``up_to`` (the end of
        the chunk being stored); whatever was prepared for nodes at or below ``up_to`` and not asked for
        (entities deleted since the read) is dropped.

        Nodes before the explainer's first are prepared here first, while the explainer works on the
        ones after them: the first chunk is shared between the two processes instead of waited for.
        """
        head = [node for node in nodes if node < self.first_node]
        taken = dict(zip(head, prepare_nodes(self._screening, head), strict=True)) if head else {}
        while not self._finished and self._received_up_to < up_to:
            kind, value = self._messages.get()
            if kind == "batch":
                for part, prepared in value:
                    self._ready.update(zip(part, prepared, strict=True))
                    self._received_up_to = part[-1]
            else:
                self._finished = True
                if kind == "error":
                    logger.warning("The screening explainer failed; this process explains the rest: %r", value)
        taken.update((node, self._ready.pop(node)) for node in nodes if node in self._ready)
        for node in [node for node in self._ready if node <= up_to]:
            del self._ready[node]
        return taken

    def close(self) -> None:
        self._stopping.set()
        self._reader.stop()  # the drain thread's read ends; it is joined before the reader is closed
        self._thread.join(10)
        self._reader.close()
        # The run's screening holds this object (``PortfolioScreening.prefetch``) and this object held the
        # screening: without this, the whole portfolio (gigabytes at a million entities) would wait for the
        # cycle collector instead of being freed when the run ends.
        self._screening = None
        self._ready.clear()


@contextmanager
def decision_prefetch(
    screening: PortfolioScreening, *, from_entity_id: int, chunk_size: int
) -> Iterator[DecisionPrefetch | None]:
    """An explainer for the slow entities with ids from ``from_entity_id`` on, when there are enough of them
    to pay for a fork (``PORTFOLIO_EXPLAINER_MIN``, 0 turns it off) and the platform can fork; else None.

    The first ``chunk_size`` entities are the first chunk to store: this process prepares the first half of
    its slow ones while the explainer starts on the second half.
    """
    minimum = settings.PORTFOLIO_EXPLAINER_MIN
    p = screening
    start = int(np.searchsorted(p.entity_pks, from_entity_id))
    nodes = np.flatnonzero(~p.unchanged[start:]) + start  # entity node i is entity_pks[i]
    if minimum <= 0 or nodes.size < minimum or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    first_chunk = nodes[nodes < start + chunk_size]
    first_node = int(first_chunk[first_chunk.size // 2]) if first_chunk.size else int(nodes[0])
    prefetch = DecisionPrefetch(p, nodes, first_node=first_node)
    try:
        yield prefetch
    finally:
        prefetch.close()
