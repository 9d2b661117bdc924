"""The decision evidence report as a PDF (ReportLab), from ``cases.services.evidence.Evidence``.

ReportLab rather than WeasyPrint: it is pure Python wheels (no Pango/Cairo system libraries to keep in
step on every server and in CI), it is maintained, and its drawing primitives draw the ownership graph
directly, so the picture needs no browser, no JavaScript and no external service.
"""

from __future__ import annotations

import io
from collections import defaultdict
from xml.sax.saxutils import escape

from django.http import HttpResponse
from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from cases.services.evidence import decision_evidence

GRAPH_WIDTH, NODE_WIDTH, NODE_HEIGHT, LAYER_GAP = 170 * mm, 34 * mm, 11 * mm, 20 * mm
MAX_DRAWN_NODES = 40
OUTCOME_COLOURS = {"block": colors.HexColor("#b42318"), "review": colors.HexColor("#b54708"), "allow": colors.green}


def _styles():
    styles = getSampleStyleSheet()
    return styles["Title"], styles["Heading2"], styles["BodyText"]


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(rows: list[list], widths=None, header: bool = True) -> Table:
    _, _, body = _styles()
    cells = [[c if isinstance(c, Paragraph) else _p(c, body) for c in row] for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")))
    table.setStyle(TableStyle(style))
    return table


def evidence_pdf_response(decision):
    """The report as a download, for the admin and the API (the same bytes from the same selector)."""
    pdf = render_evidence_pdf(decision_evidence(decision=decision))
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"decision-{decision.pk}-{decision.entity.external_id}.pdf".replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def render_evidence_pdf(evidence) -> bytes:
    title, heading, body = _styles()
    decision = evidence.decision
    entity = decision.entity
    story = [
        _p(f"Decision evidence report: {entity.name}", title),
        _p(
            f"Entity {entity.external_id} · decision #{decision.pk} · generated "
            f"{evidence.generated_at:%Y-%m-%d %H:%M} UTC",
            body,
        ),
        Spacer(1, 4 * mm),
    ]
    story += _customer(evidence, heading)
    story += _decision(evidence, heading, body)
    story += _graph(evidence, heading, body)
    story += _sources(evidence, heading, body)
    story += _casework(evidence, heading, body)
    story += _replay(evidence, heading, body)
    story += _audit(evidence, heading, body)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Decision evidence {entity.external_id} #{decision.pk}",
        author="Ownership screening",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
    )
    document.build(story)
    return buffer.getvalue()


def _customer(evidence, heading) -> list:
    customer = evidence.customer
    entity = evidence.decision.entity
    rows = [["Customer", "Reference", "Onboarded", "Active", "Jurisdiction"]]
    if customer is None:
        rows.append([entity.name, "not a customer", "–", "–", entity.jurisdiction_id or "–"])
    else:
        rows.append(
            [
                entity.name,
                customer.customer_reference,
                customer.onboarded_on.isoformat(),
                "yes" if customer.is_active else "no",
                entity.jurisdiction_id or "–",
            ]
        )
    return [_p("Customer", heading), _table(rows)]


def _decision(evidence, heading, body) -> list:
    decision = evidence.decision
    payload = decision.payload or {}
    methods = payload.get("methods", {})
    rows = [["Method", "Outcome", "Restricted share [low – high] %"]]
    for key, label in (("look_through", "Look-through (multiplicative)"), ("control_chain", "Control chain")):
        figures = methods.get(key, {})
        rows.append(
            [label, figures.get("outcome", "–"), f"[{figures.get('low', 0):.4g} – {figures.get('high', 0):.4g}]"]
        )
    paths = [["Method", "Path (owner → … → subject)", "Contribution %"]]
    for path in payload.get("paths", []):
        paths.append(
            [
                path.get("method", ""),
                " → ".join(path.get("names") or path.get("nodes") or []),
                f"{path.get('contribution', 0):.4g}" if isinstance(path.get("contribution"), int | float) else "–",
            ]
        )
    story = [
        _p("Decision", heading),
        _p(
            f"Outcome: {decision.outcome.upper()} · policy v{decision.policy.version} · as of "
            f"{decision.as_of.isoformat()} · computed {decision.computed_at:%Y-%m-%d %H:%M:%S} UTC",
            body,
        ),
        _p(f"Result fingerprint: {decision.result_fingerprint}", body),
        _table(rows),
        Spacer(1, 2 * mm),
        _p("Reasons", body),
    ]
    story += [_p(f"• {reason}", body) for reason in payload.get("reasons", [])] or [_p("–", body)]
    story += [Spacer(1, 2 * mm), _p("Contributing paths", body)]
    story.append(_table(paths, widths=[28 * mm, 118 * mm, 28 * mm]) if len(paths) > 1 else _p("none", body))
    return story


def _graph(evidence, heading, body) -> list:
    graph = evidence.graph
    nodes = graph["nodes"][:MAX_DRAWN_NODES]
    shown = {node["id"] for node in nodes}
    edges = [edge for edge in graph["edges"] if edge["source"] in shown and edge["target"] in shown]
    layers: dict[int, list[dict]] = defaultdict(list)
    for node in nodes:
        layers[node["depth"]].append(node)
    depth = max(layers, default=0)
    height = (depth + 1) * (NODE_HEIGHT + LAYER_GAP)
    drawing = Drawing(GRAPH_WIDTH, height)
    position = {}
    for level, members in layers.items():
        step = GRAPH_WIDTH / len(members)
        y = height - (depth - level) * (NODE_HEIGHT + LAYER_GAP) - NODE_HEIGHT - 2
        for i, node in enumerate(members):
            x = step * i + (step - min(NODE_WIDTH, step - 2)) / 2
            position[node["id"]] = (x, y, min(NODE_WIDTH, step - 2))
    for edge in edges:
        sx, sy, sw = position[edge["source"]]
        tx, ty, tw = position[edge["target"]]
        x1, y1, x2, y2 = sx + sw / 2, sy, tx + tw / 2, ty + NODE_HEIGHT
        colour = colors.HexColor("#b42318") if edge.get("on_path") else colors.HexColor("#667085")
        drawing.add(Line(x1, y1, x2, y2, strokeColor=colour, strokeWidth=1.4 if edge.get("on_path") else 0.7))
        drawing.add(Polygon([x2, y2, x2 - 2.5, y2 + 5, x2 + 2.5, y2 + 5], fillColor=colour, strokeColor=colour))
        label = edge.get("label") or ("control" if edge.get("control") else "")
        if label:
            drawing.add(String((x1 + x2) / 2 + 2, (y1 + y2) / 2, label[:24], fontSize=6.5, fillColor=colour))
    for node in nodes:
        x, y, width = position[node["id"]]
        fill = colors.HexColor("#fee4e2") if node.get("restricted") else colors.HexColor("#f2f4f7")
        stroke = colors.HexColor("#b42318") if node.get("restricted") else colors.HexColor("#344054")
        drawing.add(Rect(x, y, width, NODE_HEIGHT, rx=2, ry=2, fillColor=fill, strokeColor=stroke, strokeWidth=0.8))
        name = node["label"] if len(node["label"]) <= 26 else node["label"][:25] + "…"
        drawing.add(String(x + 2, y + NODE_HEIGHT - 4.5 * mm, name, fontSize=6.5))
        drawing.add(String(x + 2, y + 1.5 * mm, f"{node['external_id'][:22]} {node['jurisdiction'][:8]}", fontSize=5.5))
    note = (
        f"{len(graph['nodes'])} parties, {len(graph['edges'])} relationships in force on {evidence.decision.as_of}; "
        "restricted parties in red, contributing paths in red."
    )
    if graph.get("truncated") or len(graph["nodes"]) > MAX_DRAWN_NODES:
        note += f" Only the first {len(nodes)} parties are drawn."
    return [KeepTogether([_p("Ownership graph", heading), drawing, _p(note, body)])]


def _sources(evidence, heading, body) -> list:
    rows = [["Record", "Kind", "BODS statement", "Statement date", "Source"]]
    rows += [[s["record"], s["kind"], s["statement"], s["statement_date"], s["source"]] for s in evidence.sources]
    return [_p("Sources and provenance", heading), _table(rows, widths=[34 * mm, 20 * mm, 44 * mm, 22 * mm, 54 * mm])]


def _person(user) -> str:
    return user.get_username() if user is not None else "–"


def _casework(evidence, heading, body) -> list:
    story = [_p("Overrides and exemptions (four-eyes)", heading)]
    overrides = [["Override", "Outcome", "Proposed by", "Approved/rejected by", "Status", "Reason"]]
    for o in evidence.overrides:
        overrides.append(
            [
                f"#{o.pk} ({o.case.reference})",
                f"{o.automatic_outcome} → {o.proposed_outcome}",
                _person(o.proposed_by),
                _person(o.approved_by),
                o.get_status_display(),
                o.reason,
            ]
        )
    exemptions = [["Exemption", "Expires", "Requested by", "Approved/rejected by", "Status", "Reason"]]
    for e in evidence.exemptions:
        exemptions.append(
            [
                f"#{e.pk}",
                e.expires_on.isoformat(),
                _person(e.requested_by),
                _person(e.approved_by),
                e.get_status_display(),
                e.reason,
            ]
        )
    story.append(_table(overrides) if len(overrides) > 1 else _p("No override of this decision.", body))
    story.append(Spacer(1, 2 * mm))
    story.append(_table(exemptions) if len(exemptions) > 1 else _p("No exemption for this entity.", body))
    return story


def _replay(evidence, heading, body) -> list:
    replay = evidence.replay
    story = [_p("Replay with today's engine", heading)]
    if not replay.available:
        return story + [_p(replay.message, body)]
    story.append(
        _p(
            f"Input fingerprint {replay.stored_fingerprint} ({replay.input_nodes} parties, {replay.input_edges} "
            f"edges); stored input intact: {'yes' if replay.snapshot_intact else 'NO'}. Today's engine on that input: "
            f"{'same outcome, figures, reasons and paths' if replay.same_result else 'DIFFERENT (below)'}. "
            f"Today's records for {evidence.decision.as_of} give the same input: "
            f"{'yes' if replay.input_fingerprint_match else 'no (the records behind this date changed since)'}.",
            body,
        )
    )
    if replay.differences:
        rows = [["Field", "Stored", "Replayed"]] + [[d.field, d.stored, d.replayed] for d in replay.differences]
        story.append(_table(rows))
    return story


def _audit(evidence, heading, body) -> list:
    story = [_p("Audit-chain position", heading)]
    event = evidence.audit_event
    if event is None:
        return story + [_p("No audit event records this decision.", body)]
    story.append(
        _p(f"Recorded as audit event #{event.seq} ({event.action}, {event.occurred_at:%Y-%m-%d %H:%M:%S} UTC), "
           f"hash {event.hash} (key {event.key_id}).", body)
    )  # fmt: skip
    checkpoint = evidence.checkpoint
    if checkpoint is None:
        story.append(_p("Not yet anchored by a signed checkpoint (the scheduler writes one every few minutes).", body))
    else:
        story.append(
            _p(f"Anchored by signed checkpoint {checkpoint.name}: row #{checkpoint.seq}, head hash "
               f"{checkpoint.head_hash}, signed {checkpoint.created_at} with {checkpoint.signing_key}.", body)
        )  # fmt: skip
    if evidence.chain_problem:
        story.append(_p(f"Checkpoint store problem: {evidence.chain_problem}", body))
    story.append(_p("Verify the whole chain and its checkpoints with: manage.py verify_audit --json", body))
    return story
