"""Spec sections 3-8: one or more tests per rule."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from cases.ownership import (
    Graph,
    GraphBuilder,
    Method,
    NodeClass,
    Outcome,
    Policy,
    Reason,
    screen,
    to_day,
)

from .helpers import G, N, outcomes, pct

INCLUSIVE = Policy(inclusive=True)


def owned(*stakes, subject_cls=N.ENTITY, **stake_kw):
    """S owned by (name, cls, shareholding) triples; returns (G, S id)."""
    g = G()
    s = g.node("S", subject_cls)
    for name, cls, share in stakes:
        if name not in g.ids:
            g.node(name, cls)
        g.stake(name, "S", share, **stake_kw)
    return g, s


# --- section 3: roots, clean and unknown terminals, undisclosed remainder -----------------


def test_entity_without_disclosed_owners_is_fully_unknown():
    g, s = owned()
    res = g.screen()
    assert pct(res, s, "look_through") == (0, 100)
    assert outcomes(res, s) == ("review", "review", "review")


def test_unknown_terminal_owner_counts_as_possibly_restricted():
    g, s = owned(("U", N.UNKNOWN_TERMINAL, 60), ("P", N.CLEAN_TERMINAL, 40))
    res = g.screen()
    assert pct(res, s, "look_through") == (0, 60)
    assert pct(res, s, "control_chain") == (0, 60)
    assert outcomes(res, s) == ("review", "review", "review")
    assert res.reasons[s] & Reason.UNKNOWN_OWNERSHIP


def test_small_unknown_stake_still_allows():
    g, s = owned(("U", N.UNKNOWN_TERMINAL, 10), ("P", N.CLEAN_TERMINAL, 90))
    assert outcomes(g.screen(), s) == ("allow", "allow", "allow")


def test_restricted_root_ignores_its_own_owners():
    g = G()
    s = g.node("S", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("P", "S", 100)
    res = g.screen()
    assert res.lt_low[s].tolist() == [1, 1] and res.cc_high[s].tolist() == [1, 1]


def test_listed_entity_with_range_uses_disclosed_maximum_for_float():
    g, s = owned(("CN", N.RESTRICTED_ROOT, (25, 50)), subject_cls=N.LISTED_ENTITY)
    res = g.screen()
    assert pct(res, s, "look_through") == (25, 50)
    assert pct(res, s, "control_chain") == (25, 50)
    assert outcomes(res, s) == ("allow", "allow", "allow")


def test_listed_entity_unknown_holder_worst_case():
    g, s = owned(("U", N.UNKNOWN_TERMINAL, 55), subject_cls=N.LISTED_ENTITY)
    res = g.screen()
    assert pct(res, s, "look_through") == (0, 55)
    assert outcomes(res, s) == ("review", "review", "review")


# --- section 4: shares, ranges, time --------------------------------------------------------


def test_missing_share_is_full_range():
    g, s = owned(("CN", N.RESTRICTED_ROOT, (None, None)))
    res = g.screen()
    assert pct(res, s, "look_through") == (0, 100)
    assert outcomes(res, s) == ("review", "review", "review")


def test_exclusive_minimum_50_is_a_majority():
    """UK band 'more than 50 % but less than 75 %'."""
    g, s = owned(("CN", N.RESTRICTED_ROOT, (50, 75)), low_open=True, high_open=True)
    res = g.screen()
    assert pct(res, s, "look_through") == (50, 100)  # the rest is undisclosed
    assert outcomes(res, s) == ("block", "block", "block")


def test_inclusive_minimum_50_is_not_a_majority():
    g, s = owned(("CN", N.RESTRICTED_ROOT, (50, 75)))
    assert outcomes(g.screen(), s) == ("review", "review", "review")


def test_exclusive_maximum_50_allows_under_inclusive_policy():
    """Listed: less than 50 % restricted, the rest float, so not '50 % or more'."""
    g, s = owned(("CN", N.RESTRICTED_ROOT, (25, 50)), high_open=True, subject_cls=N.LISTED_ENTITY)
    assert outcomes(g.screen(INCLUSIVE), s) == ("allow", "allow", "allow")
    g2, s2 = owned(("CN", N.RESTRICTED_ROOT, (25, 50)), subject_cls=N.LISTED_ENTITY)
    assert outcomes(g2.screen(INCLUSIVE), s2) == ("review", "review", "review")
    assert outcomes(g2.screen(), s2) == ("allow", "allow", "allow")


def test_undisclosed_rest_closes_an_exclusive_maximum():
    """Ordinary entity: CN < 50 %, P 50 %, rest undisclosed: worst case exactly 50 %."""
    g, s = owned(("CN", N.RESTRICTED_ROOT, (25, 50)), ("P", N.CLEAN_TERMINAL, 50), high_open=True)
    assert outcomes(g.screen(INCLUSIVE), s) == ("review", "review", "review")


def test_exclusive_minimum_propagates_through_products():
    """(more than 50 %) x 100 % is more than 50 %; x 0 % is not."""
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("H")
    s = g.node("S")
    g.stake("CN", "H", (50, 75), low_open=True, high_open=True)
    g.stake("H", "S", 100)
    res = g.screen()
    assert outcomes(res, s)[0] == "block"
    assert res.lt.low_open[s, 0]


def test_decimal_sum_exactly_50_is_not_more_than_50():
    """10 + 20 + 20 is 50, not more than 50 (binary floats get this wrong)."""
    g, s = owned(
        ("A", N.RESTRICTED_ROOT, "10"),
        ("B", N.RESTRICTED_ROOT, "20"),
        ("C", N.RESTRICTED_ROOT, "20"),
        ("P", N.CLEAN_TERMINAL, "50"),
    )
    res = g.screen()
    assert outcomes(res, s) == ("allow", "allow", "allow")
    assert outcomes(g.screen(INCLUSIVE), s) == ("block", "block", "block")


def test_decimal_products_at_the_boundary():
    """0.7 x 0.5 + 0.15 = 0.5 exactly; floats give 0.49999999999999994."""
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.node("H")
    s = g.node("S")
    g.stake("CN", "H", 70)
    g.stake("P", "H", 30)
    g.stake("H", "S", 50)
    g.stake("CN", "S", 15)
    g.stake("P", "S", 35)
    assert outcomes(g.screen(Policy(method=Method.LOOK_THROUGH)), s)[0] == "allow"
    assert outcomes(g.screen(INCLUSIVE), s)[0] == "block"


def test_one_measure_only_copies_to_the_other():
    g, s = owned(("CN", N.RESTRICTED_ROOT, None), ("P", N.CLEAN_TERMINAL, None))
    g.b._edges["has_share"][0] = (False, True)  # voting only
    g.b._edges["share_low"][0] = (0.0, 0.6)
    g.b._edges["share_high"][0] = (0.0, 0.6)
    g.b._edges["has_share"][1] = (True, False)  # shareholding only
    g.b._edges["share_low"][1] = (0.4, 0.0)
    g.b._edges["share_high"][1] = (0.4, 0.0)
    res = g.screen()
    assert res.lt_low[s].tolist() == pytest.approx([0.6, 0.6])
    assert res.lt_high[s].tolist() == pytest.approx([0.6, 0.6])


def test_one_measure_only_via_builder():
    g = G()
    s = g.node("S")
    g.node("CN", N.RESTRICTED_ROOT)
    g.stake("CN", "S", vr=60)
    res = g.screen()
    assert res.lt_low[s].tolist() == pytest.approx([0.6, 0.6])


def test_pure_control_relationship_has_zero_stake():
    g = G()
    s = g.node("S")
    g.node("P", N.CLEAN_TERMINAL)
    g.node("CN", N.RESTRICTED_ROOT)
    g.stake("P", "S", 100)
    g.stake("CN", "S", indicator=True)
    res = g.screen()
    assert pct(res, s, "look_through") == (0, 0)
    assert outcomes(res, s) == ("review", "review", "review")
    assert res.reasons[s] & Reason.INDICATOR


def test_indicator_held_by_clean_party_allows():
    g = G()
    s = g.node("S")
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("P", "S", 100, indicator=True)
    assert outcomes(g.screen(), s) == ("allow", "allow", "allow")


def test_time_filter_inclusive_bounds():
    g = G()
    s = g.node("S")
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CN", "S", 70, start="2020-01-01", end="2024-12-31")
    g.stake("P", "S", 30)
    g.stake("P", "S", 70, start="2025-01-01")
    assert outcomes(g.screen(as_of_day=to_day("2020-01-01")), s)[2] == "block"
    assert outcomes(g.screen(as_of_day=to_day("2024-12-31")), s)[2] == "block"
    assert outcomes(g.screen(as_of_day=to_day("2025-01-01")), s)[2] == "allow"
    assert outcomes(g.screen(as_of_day=to_day("2019-12-31")), s)[2] == "review"


def test_duplicate_relationships_are_summed():
    g, s = owned(("CN", N.RESTRICTED_ROOT, 30), ("CN", N.RESTRICTED_ROOT, 25), ("P", N.CLEAN_TERMINAL, 45))
    res = g.screen()
    assert pct(res, s, "look_through") == (55, 55)
    assert outcomes(res, s)[2] == "block"


# --- section 5: methods ---------------------------------------------------------------------


def test_cross_holding_does_not_inflate_look_through():
    """A and B own 50 % of each other; CN owns 25 % of A, P 25 % of A, P 50 % of B."""
    g = G()
    a = g.node("A")
    b = g.node("B")
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("B", "A", 50)
    g.stake("A", "B", 50)
    g.stake("CN", "A", 25)
    g.stake("P", "A", 25)
    g.stake("P", "B", 50)
    res = g.screen()
    # r_A = .25 + .5 r_B, r_B = .5 r_A  ->  r_A = 1/3, r_B = 1/6
    assert res.lt_low[a, 0] == pytest.approx(1 / 3, abs=1e-12)
    assert res.lt_low[b, 0] == pytest.approx(1 / 6, abs=1e-12)
    assert res.lt_high[a, 0] == pytest.approx(1 / 3, abs=1e-12)
    assert res.reasons[a] & Reason.CYCLE and not res.reasons[a] & Reason.CLOSED_CYCLE


def test_control_chain_proven_clean_intermediate():
    """Example 4's H: 45 % restricted, rest clean, so H is proven clean under CC."""
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    h = g.node("H")
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CN", "H", 45)
    g.stake("P", "H", 55)
    res = g.screen()
    assert res.cc_proven_clean[h] and not res.cc_restricted[h]


def test_control_chain_possibly_restricted_intermediate_counts_in_high():
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("H")
    s = g.node("S")
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CN", "H", 40)  # H: 40 % restricted, 60 % undisclosed -> possibly restricted
    g.stake("H", "S", 60)
    g.stake("P", "S", 40)
    res = g.screen()
    assert pct(res, s, "control_chain") == (0, 60)
    assert pct(res, s, "look_through") == (24, 60)


# --- section 6: control without ownership ---------------------------------------------------


def test_control_by_possibly_restricted_party_reviews():
    g = G()
    s = g.node("S")
    g.node("U", N.UNKNOWN_TERMINAL)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("P", "S", 100)
    g.stake("U", "S", control=True)
    res = g.screen()
    assert outcomes(res, s) == ("review", "review", "review")
    assert res.reasons[s] & Reason.POSSIBLE_RESTRICTED_CONTROL


def test_control_by_blocked_company_blocks_through_chain():
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    h = g.node("H")
    s = g.node("S")
    g.stake("CN", "H", 60)
    g.stake("P", "H", 40)
    g.stake("P", "S", 100)
    g.stake("H", "S", control=True)
    res = g.screen()
    assert res.outcome[h] == Outcome.BLOCK
    assert outcomes(res, s) == ("block", "block", "block")


def test_control_cycle_among_clean_companies():
    """LT: ALLOW (least fixed point from restricted seeds).  CC: C is a least set, so two
    companies that control each other are never *proven* clean: REVIEW (design choice)."""
    g = G()
    g.node("P", N.CLEAN_TERMINAL)
    a = g.node("A")
    b = g.node("B")
    g.stake("P", "A", 100)
    g.stake("P", "B", 100)
    g.stake("A", "B", control=True)
    g.stake("B", "A", control=True)
    res = g.screen()
    assert outcomes(res, a) == ("allow", "review", "review")
    assert outcomes(res, b) == ("allow", "review", "review")


# --- section 7: outcome and data errors -----------------------------------------------------


def test_disclosed_minimum_over_100_is_a_data_error():
    g, s = owned(("P", N.CLEAN_TERMINAL, 80), ("Q", N.CLEAN_TERMINAL, 40))
    res = g.screen()
    assert outcomes(res, s) == ("review", "review", "review")
    assert res.reasons[s] & Reason.OVER_100_PERCENT
    assert any("adds up to 120.00 % (data error)" in r for r in res.explain(s).reasons)


def test_data_error_with_restricted_majority_still_blocks():
    g, s = owned(("CN", N.RESTRICTED_ROOT, 70), ("P", N.CLEAN_TERMINAL, 50))
    res = g.screen()
    assert outcomes(res, s)[2] == "block"
    assert res.reasons[s] & Reason.OVER_100_PERCENT
    assert (res.lt_low[s] <= res.lt_high[s]).all()


def test_exactly_100_with_open_minimum_is_a_data_error():
    g, s = owned(("P", N.CLEAN_TERMINAL, (50, 75)), ("Q", N.CLEAN_TERMINAL, 50), low_open=True)
    assert g.screen().reasons[s] & Reason.OVER_100_PERCENT


def test_method_selection():
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("H")
    s = g.node("S")
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CN", "H", 55)
    g.stake("P", "H", 45)
    g.stake("H", "S", 80)
    g.stake("P", "S", 20)
    assert g.screen(Policy(method=Method.LOOK_THROUGH)).outcome[s] == Outcome.ALLOW
    assert g.screen(Policy(method=Method.CONTROL_CHAIN)).outcome[s] == Outcome.BLOCK
    assert g.screen(Policy(method=Method.STRICTEST)).outcome[s] == Outcome.BLOCK


def test_threshold_is_configurable():
    g, s = owned(("CN", N.RESTRICTED_ROOT, 30), ("P", N.CLEAN_TERMINAL, 70))
    assert g.screen(Policy(threshold=Fraction(1, 4))).outcome[s] == Outcome.BLOCK


# --- section 9 and 11: explanation and decision shape ---------------------------------------


def test_decision_dict_shape():
    g, s = owned(("CN", N.RESTRICTED_ROOT, 55), ("P", N.CLEAN_TERMINAL, 45))
    d = g.screen().decision_dict(s)
    assert set(d) == {"outcome", "methods", "reasons", "paths"}
    assert d["methods"]["look_through"] == {"outcome": "block", "low": 55.0, "high": 55.0}
    assert d["paths"][0]["nodes"] == ["CN", "S"]
    assert d["paths"][0]["shares"] == [55.0] and d["paths"][0]["contribution"] == 55.0


def test_explain_returns_top_k_paths_in_order():
    g = G()
    s = g.node("S")
    for i in range(20):
        g.node(f"R{i}", N.RESTRICTED_ROOT)
        g.stake(f"R{i}", "S", Fraction(i + 1, 5))
    paths = g.screen().explain(s, max_paths=3).paths
    lt = [p.contribution for p in paths if p.method is Method.LOOK_THROUGH]
    assert lt == pytest.approx([4.0, 3.8, 3.6])


# --- graph validation -----------------------------------------------------------------------


def _arrays(**over):
    base = {
        "node_class": np.array([0, 2], dtype=np.int8),
        "owner": np.array([1], dtype=np.int32),
        "subject": np.array([0], dtype=np.int32),
        "share_low": np.array([[0.5, 0.5]]),
        "share_high": np.array([[0.5, 0.5]]),
        "low_open": np.zeros((1, 2), bool),
        "high_open": np.zeros((1, 2), bool),
        "has_share": np.ones((1, 2), bool),
        "control": np.zeros(1, bool),
        "indicator": np.zeros(1, bool),
        "start_day": np.array([0], np.int32),
        "end_day": np.array([10], np.int32),
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"node_class": np.array([0, 7], dtype=np.int8)}, "node_class values"),
        ({"owner": np.array([5], dtype=np.int32)}, "owner: node index out of range"),
        ({"share_low": np.array([[0.6, 0.5]])}, "share_low exceeds share_high"),
        ({"share_high": np.array([[1.5, 0.5]])}, "share_high: shares must be"),
        ({"control": np.zeros(2, bool)}, "control: expected shape"),
        ({"start_day": np.array([11], np.int32)}, "start_day after end_day"),
        ({"share_low": np.array([["a", "b"]])}, "share_low: expected dtype"),
    ],
)
def test_graph_validation(over, message):
    with pytest.raises(ValueError, match=message):
        Graph(**_arrays(**over))


def test_graph_valid_and_builder_exact_percent():
    Graph(**_arrays())
    b = GraphBuilder()
    b.add_node("x", NodeClass.ENTITY)
    b.add_node("y", NodeClass.CLEAN_TERMINAL)
    b.add_stake(1, 0, "33.3")
    assert b.build().share_low[0, 0] == float(Fraction("33.3") / 100)
    assert screen(b.build()).outcome[0] == Outcome.REVIEW


# --- edge cases ----------------------------------------------------------------------------


def test_empty_graph_and_graph_without_edges():
    assert screen(GraphBuilder().build()).outcome.size == 0
    b = GraphBuilder()
    b.add_node("lonely", NodeClass.ENTITY)
    b.add_node("listed", NodeClass.LISTED_ENTITY)
    res = screen(b.build())
    assert res.outcome.tolist() == [Outcome.REVIEW, Outcome.ALLOW]


def test_policy_validation():
    with pytest.raises(ValueError, match="threshold must be within"):
        Policy(threshold=Fraction(3, 2))
    assert Policy(method="look_through").method is Method.LOOK_THROUGH


def test_control_by_reviewed_company_reviews():
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.node("H")
    s = g.node("S")
    g.stake("CN", "H", 30)
    g.stake("P", "H", 30)  # H: 30-70, review under both methods
    g.stake("P", "S", 100)
    g.stake("H", "S", control=True)
    res = g.screen()
    assert outcomes(res, s) == ("review", "review", "review")
    assert res.reasons[s] & Reason.POSSIBLE_RESTRICTED_CONTROL
    assert "Control interest held by H, who may be restricted" in res.explain(s).reasons


def test_paths_through_cross_holdings_are_simple_and_bounded():
    g = G()
    a = g.node("A")
    g.node("B")
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("B", "A", 50)
    g.stake("A", "B", 50)
    g.stake("CN", "A", 40)
    g.stake("CN", "B", 30)
    g.stake("P", "A", 10)
    g.stake("P", "B", 20)
    res = g.screen()
    # r_A = .4 + .5 r_B, r_B = .3 + .5 r_A -> r_A = 11/15
    assert res.lt_low[a, 0] == pytest.approx(11 / 15, abs=1e-12)
    paths = res.explain(a).paths
    assert paths and all(len(set(p.nodes)) == len(p.nodes) for p in paths)
    lt = [p.contribution for p in paths if p.method is Method.LOOK_THROUGH]
    assert lt == sorted(lt, reverse=True) and lt[0] == pytest.approx(40)


def test_screening_without_date_counts_every_interest():
    g = G()
    s = g.node("S")
    g.node("CN", N.RESTRICTED_ROOT)
    g.stake("CN", "S", 60, end="2000-01-01")
    assert g.screen().outcome[s] == Outcome.BLOCK
    assert g.screen(as_of_day=to_day("2001-01-01")).outcome[s] == Outcome.REVIEW
