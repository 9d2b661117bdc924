"""The screening adapter end to end: database rows in, stored decisions out."""

import datetime
from decimal import Decimal

import pytest

import cases.services.screening as screening
from cases.models import CurrentDecision, Decision, EntityType, InterestType, PersonType
from cases.services.policy import policy_publish
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, InterestFactory, PersonFactory, RelationshipFactory, stake

pytestmark = pytest.mark.django_db
AS_OF = datetime.date(2026, 11, 25)


def decide(entity, **kwargs):
    summary = screen_entities(entity_ids=[entity.pk], as_of=AS_OF, collect_payloads=True, **kwargs)
    return next(p for p in summary.payloads if p["entity"] == entity.external_id)


def clean_person(**kwargs):
    return PersonFactory(nationalities=["GB"], **kwargs)


def test_direct_restricted_owner_blocks_and_is_stored():
    subject = EntityFactory(external_id="S")
    stake(EntityFactory(jurisdiction_id="CN", name="CN Holdco"), subject, 70)
    stake(clean_person(), subject, 30)
    payload = decide(subject)
    assert payload["outcome"] == "block"
    assert payload["methods"]["look_through"] == {"outcome": "block", "low": 70.0, "high": 70.0}
    assert payload["methods"]["control_chain"]["low"] == 70.0
    assert payload["entity"] == "S" and payload["as_of"] == "2026-11-25" and payload["policy_version"] == 1
    decision = CurrentDecision.objects.get(entity=subject).decision
    assert decision.outcome == "block" and decision.payload == payload


def test_subdivision_code_counts_as_its_country():
    subject = EntityFactory()
    stake(EntityFactory(jurisdiction_id="CN-SH"), subject, 60)
    stake(clean_person(), subject, 40)
    assert decide(subject)["outcome"] == "block"


def test_taiwan_is_not_china():
    subject = EntityFactory()
    stake(EntityFactory(jurisdiction_id="TW"), subject, 100)
    # The TW owner itself has no disclosed owners: 100 % unknown, so review, not block.
    assert decide(subject)["outcome"] == "review"
    owner = EntityFactory(jurisdiction_id="TW")
    stake(clean_person(), owner, 100)
    other = EntityFactory()
    stake(owner, other, 100)
    assert decide(other)["outcome"] == "allow"


def test_business_address_in_restricted_jurisdiction_is_a_root_with_reason():
    subject = EntityFactory(jurisdiction_id="KY", business_address_countries=["CN"])
    stake(clean_person(), subject, 100)
    payload = decide(subject)
    assert payload["outcome"] == "block"
    assert payload["methods"]["look_through"]["low"] == 100.0
    assert any("Business (headquarters) address in CN" in r for r in payload["reasons"])


def test_person_attributes_follow_the_policy_switches():
    subject = EntityFactory()
    stake(PersonFactory(nationalities=["GB"], residence_countries=["RU"]), subject, 60)
    stake(clean_person(), subject, 40)
    assert decide(subject)["outcome"] == "block"
    policy_publish(user=None, restricted_codes=["CN", "RU"], count_residence=False)
    assert decide(subject)["outcome"] == "allow"


def test_unknown_person_is_unknown_not_clean():
    subject = EntityFactory()
    stake(PersonFactory(person_type=PersonType.ANONYMOUS_PERSON, nationalities=[]), subject, 60)
    stake(clean_person(), subject, 40)
    payload = decide(subject)
    assert payload["outcome"] == "review"
    assert payload["methods"]["look_through"]["high"] == 60.0


def test_state_of_restricted_jurisdiction_is_root_and_other_states_are_clean():
    subject = EntityFactory()
    stake(EntityFactory(entity_type=EntityType.STATE, jurisdiction_id="CN"), subject, 51)
    stake(EntityFactory(entity_type=EntityType.STATE, jurisdiction_id="FR"), subject, 49)
    payload = decide(subject)
    assert payload["outcome"] == "block"
    assert payload["methods"]["look_through"] == {"outcome": "block", "low": 51.0, "high": 51.0}


def test_interests_not_in_force_do_not_count():
    subject = EntityFactory()
    stake(EntityFactory(jurisdiction_id="RU"), subject, 60, end_date=datetime.date(2024, 12, 31))
    stake(clean_person(), subject, 100, start_date=datetime.date(2025, 1, 1))
    assert decide(subject)["outcome"] == "allow"
    summary = screen_entities(entity_ids=[subject.pk], as_of=datetime.date(2024, 6, 1), collect_payloads=True)
    assert summary.payloads[0]["outcome"] == "block"


def test_closed_relationship_does_not_count():
    subject = EntityFactory()
    rel = stake(EntityFactory(jurisdiction_id="RU"), subject, 60)
    stake(clean_person(), subject, 40)
    rel.is_closed = True
    rel.save()
    assert decide(subject)["methods"]["look_through"]["low"] == 0.0


def test_indirect_summary_with_components_is_not_counted_twice():
    cn = EntityFactory(jurisdiction_id="CN")
    holding = EntityFactory()
    subject = EntityFactory()
    first = stake(cn, holding, 100)
    second = stake(holding, subject, 40)
    stake(clean_person(), subject, 60)
    summary = RelationshipFactory(
        subject=subject,
        interested_person=None,
        interested_entity=cn,
        component_record_ids=[first.external_id, second.external_id],
    )
    InterestFactory(relationship=summary, direct_or_indirect="indirect", share_exact=Decimal("40"))
    payload = decide(subject)
    assert payload["methods"]["look_through"]["low"] == 40.0


def test_indirect_interest_without_components_is_an_edge():
    subject = EntityFactory()
    stake(EntityFactory(jurisdiction_id="CN"), subject, 60, direct_or_indirect="indirect")
    stake(clean_person(), subject, 40)
    assert decide(subject)["outcome"] == "block"


def test_unspecified_owner_is_unknown_and_reason_kept():
    subject = EntityFactory()
    stake(clean_person(), subject, 40)
    rel = RelationshipFactory(
        subject=subject, interested_person=None, unspecified_reason="informationUnknownToPublisher"
    )
    InterestFactory(relationship=rel, share_exact=Decimal("60"))
    payload = decide(subject)
    assert payload["outcome"] == "review"
    assert payload["methods"]["look_through"] == {"outcome": "review", "low": 0.0, "high": 60.0}


def test_contract_control_by_restricted_party_blocks():
    subject = EntityFactory()
    stake(clean_person(), subject, 100)
    stake(EntityFactory(jurisdiction_id="CN"), subject, None, interest_type=InterestType.RIGHTS_GRANTED_BY_CONTRACT)
    payload = decide(subject)
    assert payload["outcome"] == "block"
    assert payload["methods"]["look_through"]["low"] == 0.0


def test_unchanged_result_is_not_stored_again_and_change_has_consequences(monkeypatch):
    subject = EntityFactory()
    CustomerFactory(entity=subject)
    stake(clean_person(), subject, 100)
    received = []
    consequences = screening.decision_consequences

    def recording(*, changes, trigger, actor):
        received.extend(changes)
        consequences(changes=changes, trigger=trigger, actor=actor)

    monkeypatch.setattr(screening, "decision_consequences", recording)
    decide(subject)
    decide(subject)
    assert Decision.objects.filter(entity=subject).count() == 1
    assert len(received) == 1 and received[0].previous_outcome is None and received[0].decision.outcome == "allow"
    stake(EntityFactory(jurisdiction_id="CN"), subject, 100, interest_type=InterestType.APPOINTMENT_OF_BOARD)
    decide(subject)
    assert Decision.objects.filter(entity=subject).count() == 2
    assert [c.decision.outcome for c in received] == ["allow", "block"]
    assert received[1].previous_outcome == "allow"


def test_screening_a_subset_gives_the_same_figures_as_screening_all():
    cn = EntityFactory(jurisdiction_id="CN")
    holding = EntityFactory()
    subject = EntityFactory()
    stake(cn, holding, 55)
    stake(clean_person(), holding, 45)
    stake(holding, subject, 80)
    stake(clean_person(), subject, 20)
    subset = decide(subject)
    everything = screen_entities(as_of=AS_OF, collect_payloads=True).payloads
    full = next(p for p in everything if p["entity"] == subject.external_id)
    assert subset["methods"] == full["methods"]
    assert subset["methods"]["look_through"]["low"] == pytest.approx(44.0)
    assert subset["methods"]["control_chain"]["low"] == 80.0


def test_full_run_keeps_unchanged_decisions_without_explaining_them_again(monkeypatch):
    subject = EntityFactory()
    stake(EntityFactory(jurisdiction_id="CN"), subject, 70)
    stake(clean_person(), subject, 30)
    first = screen_entities(as_of=AS_OF, collect_payloads=True).payloads
    import cases.services.screening as screening

    original = screening.decision_payloads

    def must_not_explain(**kwargs):
        if len(kwargs["nodes"]):
            raise AssertionError("an unchanged decision was explained again")
        return original(**kwargs)

    monkeypatch.setattr(screening, "decision_payloads", must_not_explain)
    later = AS_OF + datetime.timedelta(days=1)
    again = screen_entities(as_of=later, collect_payloads=True)
    assert again.changed == 0
    by_entity = {p["entity"]: p for p in again.payloads}
    before = next(p for p in first if p["entity"] == subject.external_id)
    assert by_entity[subject.external_id] == {**before, "as_of": later.isoformat()}
    assert CurrentDecision.objects.get(entity=subject).as_of == later


def test_incremental_run_explains_again(monkeypatch):
    subject = EntityFactory()
    stake(clean_person(), subject, 100)
    decide(subject)
    import cases.services.screening as screening

    calls = []
    original = screening.decision_payloads
    monkeypatch.setattr(screening, "decision_payloads", lambda **kw: calls.extend(kw["nodes"]) or original(**kw))
    decide(subject)
    assert calls
