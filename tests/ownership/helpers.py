"""Small helpers shared by the ownership tests."""

from __future__ import annotations

from cases.ownership import GraphBuilder, NodeClass, Policy, screen

N = NodeClass


class G:
    """Builder wrapper that names nodes and screens in one call."""

    def __init__(self) -> None:
        self.b = GraphBuilder()
        self.ids: dict[str, int] = {}

    def node(self, name: str, cls: NodeClass = N.ENTITY) -> int:
        self.ids[name] = self.b.add_node(name, cls)
        return self.ids[name]

    def stake(self, owner: str, subject: str, sh=None, vr=None, **kw) -> None:
        self.b.add_stake(self.ids[owner], self.ids[subject], sh, vr, **kw)

    def screen(self, policy: Policy | None = None, **kw):
        return screen(self.b.build(), policy or Policy(), **kw)


def pct(res, node: int, method: str) -> tuple[float, float]:
    """(low, high) in percent of the driving measure, as the decision object reports."""
    d = res.decision_dict(node)["methods"][method]
    return d["low"], d["high"]


def outcomes(res, node: int) -> tuple[str, str, str]:
    d = res.decision_dict(node)
    return (d["methods"]["look_through"]["outcome"], d["methods"]["control_chain"]["outcome"], d["outcome"])
