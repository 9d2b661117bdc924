"""Huge cycles and deep chains terminate with exact values (values asserted, not time)."""

from __future__ import annotations

import numpy as np

from cases.ownership import INT32_MAX, INT32_MIN, Graph, NodeClass, Outcome, screen


def make_graph(node_class, owner, subject, share) -> Graph:
    e = len(owner)
    share = np.repeat(np.asarray(share, dtype=np.float64)[:, None], 2, axis=1)
    return Graph(
        node_class=np.asarray(node_class, dtype=np.int8),
        owner=np.asarray(owner, dtype=np.int32),
        subject=np.asarray(subject, dtype=np.int32),
        share_low=share,
        share_high=share.copy(),
        low_open=np.zeros((e, 2), bool),
        high_open=np.zeros((e, 2), bool),
        has_share=np.ones((e, 2), bool),
        control=np.zeros(e, bool),
        indicator=np.zeros(e, bool),
        start_day=np.full(e, INT32_MIN, np.int32),
        end_day=np.full(e, INT32_MAX, np.int32),
    )


def test_closed_100k_cycle_is_unknown():
    n = 100_000
    ids = np.arange(n)
    g = make_graph(np.zeros(n), ids, (ids + 1) % n, np.ones(n))
    res = screen(g)
    assert (res.lt_low == 0).all() and (res.lt_high == 1).all()
    assert (res.cc_low == 0).all() and (res.cc_high == 1).all()
    assert (res.outcome == Outcome.REVIEW).all()


def test_fed_100k_cycle_exact_fixed_point():
    """Each member: 50 % by its predecessor, 30 % by root R, 20 % by clean P.

    r = .3 + .5 r  ->  0.6;  c = .2 + .5 c  ->  0.4, so high = 0.6 for every member.
    """
    n = 100_000
    ids = np.arange(n)
    root, clean = n, n + 1
    cls = np.r_[np.zeros(n), NodeClass.RESTRICTED_ROOT, NodeClass.CLEAN_TERMINAL]
    owner = np.r_[ids, np.full(n, root), np.full(n, clean)]
    subject = np.r_[(ids + 1) % n, ids, ids]
    share = np.r_[np.full(n, 0.5), np.full(n, 0.3), np.full(n, 0.2)]
    res = screen(make_graph(cls, owner, subject, share))
    np.testing.assert_allclose(res.lt_low[:n], 0.6, atol=1e-9)
    np.testing.assert_allclose(res.lt_high[:n], 0.6, atol=1e-9)
    # Control chain: 30 % is not a majority, 20 % proven clean: 30..80 for everyone.
    np.testing.assert_allclose(res.cc_low[:n], 0.3, atol=1e-12)
    np.testing.assert_allclose(res.cc_high[:n], 0.8, atol=1e-12)
    assert (res.outcome[:n] == Outcome.BLOCK).all()


def test_10k_deep_chain():
    """Root owns 99 % of node 0; node i owns 99.9 % of node i+1; clean P owns the rest."""
    n = 10_000
    ids = np.arange(n)
    root, clean = n, n + 1
    cls = np.r_[np.zeros(n), NodeClass.RESTRICTED_ROOT, NodeClass.CLEAN_TERMINAL]
    owner = np.r_[root, ids[:-1], clean, np.full(n - 1, clean)]
    subject = np.r_[ids, ids]
    share = np.r_[0.99, np.full(n - 1, 0.999), 0.01, np.full(n - 1, 0.001)]
    res = screen(make_graph(cls, owner, subject, share))
    expected = 0.99 * 0.999**ids
    np.testing.assert_allclose(res.lt_low[:n, 0], expected, rtol=1e-9)
    np.testing.assert_allclose(res.lt_high[:n, 0], expected, rtol=1e-9)
    # Control chain passes whole stakes: every link is restricted.
    assert res.cc_restricted[:n].all()
    first_allow = np.argmax(expected <= 0.5)
    assert res.lt_outcome[first_allow] == Outcome.ALLOW
    assert res.lt_outcome[first_allow - 1] == Outcome.BLOCK


def test_over_100_cycle_falls_back_and_terminates():
    """Data error: 2-cycle at 100 % plus a 10 % root stake -> capped at 100 %."""
    cls = [0, 0, NodeClass.RESTRICTED_ROOT]
    res = screen(make_graph(cls, [0, 1, 2], [1, 0, 0], [1.0, 1.0, 0.1]))
    np.testing.assert_allclose(res.lt_low[:2], 1.0)
    assert (res.outcome[:2] >= Outcome.REVIEW).all()


def test_over_100_in_a_100k_cycle_saturates_exactly():
    """Each member holds 100 % of the next, plus a root holds 10 % of member 0 (110 %)."""
    n = 100_000
    ids = np.arange(n)
    cls = np.r_[np.zeros(n), NodeClass.RESTRICTED_ROOT]
    g = make_graph(cls, np.r_[ids, n], np.r_[(ids + 1) % n, 0], np.r_[np.ones(n), 0.1])
    res = screen(g)
    np.testing.assert_allclose(res.lt_low[:n], 1.0)
    assert res.data_error[0].all() and not res.data_error[1].any()


def test_capped_fixed_point_is_not_all_ones():
    """B's two rows into A sum to 200 % (data error); A holds 50 % of B.

    min(1, 2 r_B + 0.1) and 0.5 r_A give r_A = 1, r_B = 0.5 exactly.
    """
    cls = [0, 0, NodeClass.RESTRICTED_ROOT]
    g = make_graph(cls, [1, 1, 0, 2], [0, 0, 1, 0], [1.0, 1.0, 0.5, 0.1])
    res = screen(g)
    assert res.lt_low[:2, 0].tolist() == [1.0, 0.5]
