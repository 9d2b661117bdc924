"""The synthetic generator (shared with other benchmarks) is valid, seeded and screenable."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from benchmarks.synthetic import TODAY, generate, iter_node_rows, iter_stake_rows
from cases.ownership import Outcome, screen


def test_generator_is_seeded_and_realistic():
    a, b = generate(5_000, seed=7), generate(5_000, seed=7)
    assert np.array_equal(a.owner, b.owner) and np.array_equal(a.low_bp, b.low_bp)
    ratio = a.owner.size / a.n_companies
    assert 1.3 < ratio < 1.8
    assert set(np.unique(a.node_class)) == {0, 1, 2, 3, 4}
    # Disclosed minima never exceed 100 % (no data errors by construction).
    sums = np.bincount(a.subject, a.low_bp * a.has_share, minlength=a.node_class.size)
    assert sums.max() <= 10_000


def test_generated_graph_screens_with_every_outcome():
    data = generate(5_000, seed=3)
    res = screen(data.to_graph(labels=True), as_of_day=TODAY)
    companies = res.outcome[: data.n_companies]
    assert {int(o) for o in np.unique(companies)} == {Outcome.ALLOW, Outcome.REVIEW, Outcome.BLOCK}
    assert res.lt.low.shape == (data.node_class.size, 2)


def test_plain_rows_round_trip():
    data = generate(500, seed=1)
    nodes = list(iter_node_rows(data))
    stakes = list(iter_stake_rows(data))
    assert len(nodes) == data.node_class.size and len(stakes) == data.owner.size
    row = next(r for r in stakes if r["share_min"] is not None)
    assert Decimal(row["share_min"]) <= Decimal(row["share_max"])


def test_figure_rows_are_method_figures_for_every_node():
    """The bulk figures a nothing-changed run compares are exactly the per-node ones it replaced."""
    data = generate(3_000, seed=5)
    res = screen(data.to_graph(labels=True), as_of_day=TODAY)
    nodes = np.arange(data.node_class.size)
    expected = []
    for node in nodes:
        methods = res.method_figures(node)
        lt, cc = methods["look_through"], methods["control_chain"]
        expected.append((lt["outcome"], lt["low"], lt["high"], cc["outcome"], cc["low"], cc["high"]))
    assert res.figure_rows(nodes) == expected
    assert res.figure_rows(nodes[::7]) == expected[::7]
    assert res.figure_rows(np.array([], dtype=int)) == []
