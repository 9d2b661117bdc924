"""Point-in-time replay of stored decisions (issue 13, item 2)."""

import base64
import datetime
import json

import numpy as np
import pytest
from django.db import connection

from cases.models import CurrentDecision, DecisionInput, Interest
from cases.ownership.snapshot import snapshot_fingerprint
from cases.services.replay import decision_replay
from cases.services.screening import screen_entities
from tests.factories import EntityFactory, PersonFactory, stake

pytestmark = pytest.mark.django_db
AS_OF = datetime.date(2026, 11, 25)


def chain():
    """CN holdco -> 60 % of A -> 70 % of S (look-through 42 %, control chain 70 %: block by control)."""
    subject = EntityFactory(external_id="S", name="Subject Ltd")
    middle = EntityFactory(external_id="A", name="Middle BV")
    stake(EntityFactory(external_id="CNH", jurisdiction_id="CN", name="CN Holdco"), middle, 60)
    stake(PersonFactory(nationalities=["GB"]), middle, 40)
    stake(middle, subject, 70)
    stake(EntityFactory(external_id="UNREL", name="Unrelated"), EntityFactory(external_id="OTHER"), 100)
    screen_entities(entity_ids=[subject.pk], as_of=AS_OF)
    return subject, CurrentDecision.objects.get(entity=subject).decision


def test_every_new_decision_keeps_its_upstream_closure_as_input():
    subject, decision = chain()
    snapshot = DecisionInput.objects.get(decision=decision).snapshot
    assert snapshot["target"] == "S"
    labels = set(snapshot["nodes"]["label"])
    assert {"S", "A", "CNH"} <= labels and not labels & {"UNREL", "OTHER"}  # the closure only
    assert snapshot["edges"]["count"] == 3


def test_the_input_is_stored_as_json_text_on_every_database():
    """``JSONTextField``: text, not ``jsonb`` (the server need not parse it) and no SQLite CHECK; the text is
    the encoder's, and reads back as the snapshot that was fingerprinted."""
    _subject, decision = chain()
    stored = DecisionInput.objects.get(decision=decision)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT table_name, data_type FROM information_schema.columns WHERE (table_name, column_name) "
                "IN (('cases_decisioninput', 'snapshot'), ('cases_decision', 'payload'))"
            )
            assert dict(cursor.fetchall()) == {"cases_decisioninput": "text", "cases_decision": "jsonb"}
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name IN ('cases_decisioninput', 'cases_decision')")
            assert not any("JSON_VALID" in sql for (sql,) in cursor.fetchall())
        cursor.execute("SELECT snapshot FROM cases_decisioninput WHERE decision_id = %s", [decision.pk])
        (text,) = cursor.fetchone()
    assert json.loads(text) == stored.snapshot
    assert snapshot_fingerprint(stored.snapshot) == stored.fingerprint


def test_replay_gives_the_same_figures_and_input_today():
    _, decision = chain()
    replay = decision_replay(decision=decision)
    assert replay.available and replay.snapshot_intact
    assert replay.same_result and replay.differences == []
    assert replay.input_fingerprint_match
    assert replay.replayed_payload["methods"] == decision.payload["methods"]
    body = replay.as_json()
    assert body["stored"] == body["replayed"] and body["input_nodes"] == 4


def test_replay_uses_the_graph_as_it_was_not_todays_rows():
    """The CN stake is later cut to 10 %: the replay still shows the decision's figures, and says the data moved."""
    subject, decision = chain()
    cn_stake = Interest.objects.get(relationship__interested_entity__external_id="CNH")
    with connection.cursor() as cursor:  # as a later import would: no re-screen in this test
        cursor.execute("UPDATE cases_interest SET share_exact = 10 WHERE id = %s", [cn_stake.pk])
    replay = decision_replay(decision=decision)
    assert replay.same_result  # today's code on the graph as it was
    assert replay.replayed_payload["methods"] == decision.payload["methods"]
    assert not replay.input_fingerprint_match  # today's rows for that date are not what the decision saw


def test_an_altered_input_is_detected_and_the_diff_shown():
    _, decision = chain()
    stored = DecisionInput.objects.get(decision=decision)
    snapshot = stored.snapshot
    table = np.frombuffer(base64.b64decode(snapshot["edges"]["table"]), dtype="<f8").reshape(3, -1).copy()
    cn_edge = table[:, 0] == snapshot["nodes"]["label"].index("CNH")
    table[cn_edge, 2:6] = 0.1  # 10 % instead of 60 %
    snapshot["edges"]["table"] = base64.b64encode(table.tobytes()).decode()
    DecisionInput.objects.filter(pk=stored.pk).update(snapshot=snapshot)
    replay = decision_replay(decision=decision)
    assert not replay.snapshot_intact and "altered" in replay.message
    assert not replay.same_result
    fields = {difference.field for difference in replay.differences}
    assert {"outcome", "look_through.low", "control_chain.low"} <= fields


def test_a_decision_without_input_says_so():
    _, decision = chain()
    DecisionInput.objects.filter(decision=decision).delete()
    replay = decision_replay(decision=decision)
    assert not replay.available and "0008" in replay.message
