"""Spec section 10: every worked example, figures and outcomes exactly as the table says."""

from __future__ import annotations

import pytest

from cases.ownership import Reason

from .helpers import G, N, outcomes, pct


def check(res, s, lt, cc, outs):
    assert pct(res, s, "look_through") == pytest.approx(lt, abs=1e-9)
    assert pct(res, s, "control_chain") == pytest.approx(cc, abs=1e-9)
    assert outcomes(res, s) == outs


def test_example_1_direct_majority():
    g = G()
    s = g.node("S")
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CN", "S", 70)
    g.stake("P", "S", 30)
    check(g.screen(), s, (70, 70), (70, 70), ("block", "block", "block"))


def test_example_2_aggregation_of_two_restricted_owners():
    g = G()
    s = g.node("S")
    g.node("CNP", N.RESTRICTED_ROOT)
    g.node("RU", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CNP", "S", 20)
    g.stake("RU", "S", 35)
    g.stake("P", "S", 45)
    res = g.screen()
    check(res, s, (55, 55), (55, 55), ("block", "block", "block"))
    assert {tuple(p.nodes) for p in res.explain(s).paths} >= {(1, 0), (2, 0)}


def test_example_3_control_chain_passes_whole_stake():
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("H")
    s = g.node("S")
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CN", "H", 55)
    g.stake("P", "H", 45)
    g.stake("H", "S", 80)
    g.stake("P", "S", 20)
    check(g.screen(), s, (44, 44), (80, 80), ("allow", "block", "block"))


def test_example_4_look_through_adds_parallel_paths():
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("H")
    s = g.node("S")
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CN", "H", 45)
    g.stake("P", "H", 55)
    g.stake("H", "S", 90)
    g.stake("CN", "S", 10)
    res = g.screen()
    check(res, s, (50.5, 50.5), (10, 10), ("block", "allow", "block"))
    contributions = sorted(p.contribution for p in res.explain(s).paths if p.method.value == "look_through")
    assert contributions == pytest.approx([10, 40.5])


def test_example_5_undisclosed_remainder_is_unknown():
    g = G()
    s = g.node("S")
    g.node("CNP", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("CNP", "S", 30)
    g.stake("P", "S", 30)
    res = g.screen()
    check(res, s, (30, 70), (30, 70), ("review", "review", "review"))
    assert res.reasons[s] & Reason.UNKNOWN_OWNERSHIP
    assert any("undisclosed for up to 40.00 %" in r for r in res.explain(s).reasons)


def test_example_6_listed_float_is_clean():
    g = G()
    s = g.node("S", N.LISTED_ENTITY)
    g.node("CN", N.RESTRICTED_ROOT)
    g.stake("CN", "S", 40)
    check(g.screen(), s, (40, 40), (40, 40), ("allow", "allow", "allow"))


def test_example_7_closed_cycle_is_unknown():
    g = G()
    s = g.node("S")
    g.node("T")
    g.stake("S", "T", 100)
    g.stake("T", "S", 100)
    res = g.screen()
    check(res, s, (0, 100), (0, 100), ("review", "review", "review"))
    assert res.reasons[s] & Reason.CLOSED_CYCLE
    assert "Ownership cycle without outside owners" in res.explain(s).reasons


def test_example_8_larger_measure_drives():
    g = G()
    s = g.node("S")
    g.node("RU", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("RU", "S", sh=20, vr=55)
    g.stake("P", "S", sh=80, vr=45)
    check(g.screen(), s, (55, 55), (55, 55), ("block", "block", "block"))


def test_example_9_restricted_root_entity():
    g = G()
    s = g.node("S", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.stake("P", "S", 100)
    res = g.screen()
    check(res, s, (100, 100), (100, 100), ("block", "block", "block"))
    assert res.reasons[s] & Reason.RESTRICTED_ROOT


def test_example_10_contractual_control_without_shares():
    g = G()
    s = g.node("S")
    g.node("P", N.CLEAN_TERMINAL)
    g.node("CN", N.RESTRICTED_ROOT)
    g.stake("P", "S", 100)
    g.stake("CN", "S", control=True)
    res = g.screen()
    check(res, s, (0, 0), (0, 0), ("block", "block", "block"))
    assert res.reasons[s] & Reason.RESTRICTED_CONTROL
    assert "Controlled by restricted party CN via control interest" in res.explain(s).reasons
