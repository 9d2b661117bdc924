"""Look-through figures within the float tolerance of T are re-checked exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cases.ownership import Policy

from .helpers import G, N, outcomes


def two_hop(a: str, b: str) -> tuple[G, int]:
    """CN holds a % of H, H holds b % of S; clean persons hold the rest of both."""
    g = G()
    g.node("CN", N.RESTRICTED_ROOT)
    g.node("P", N.CLEAN_TERMINAL)
    g.node("H")
    s = g.node("S")
    g.stake("CN", "H", a)
    g.stake("P", "H", str(100 - Fraction(a)))
    g.stake("H", "S", b)
    g.stake("P", "S", str(100 - Fraction(b)))
    return g, s


def test_product_a_hair_below_half_is_not_half_or_more():
    a, b = "50.0001", "99.9998"
    exact = Fraction(a) * Fraction(b) / 10_000
    assert 0 < Fraction(1, 2) - exact < Fraction(1, 10**9)
    g, s = two_hop(a, b)
    res = g.screen(Policy(inclusive=True))
    assert res.lt_low[s, 0] == pytest.approx(float(exact), abs=1e-15)
    assert outcomes(res, s)[0] == "allow"
    assert res.lt.low_side[s, 0] == -1


def test_product_a_hair_above_half_is_more_than_half():
    a, b = "50.0001", "99.9998001"
    exact = Fraction(a) * Fraction(b) / 10_000
    assert 0 < exact - Fraction(1, 2) < Fraction(1, 10**9)
    g, s = two_hop(a, b)
    res = g.screen()
    assert outcomes(res, s)[0] == "block"
    assert res.lt.low_side[s, 0] == 1


def test_exact_half_stays_exact():
    g, s = two_hop("50", "100")
    res = g.screen()
    assert res.lt.low_side[s, 0] == 0
    assert outcomes(res, s) == ("allow", "allow", "allow")
