"""OpenAPI examples (drf-spectacular ``OpenApiExample``) shared by the views."""

from drf_spectacular.utils import OpenApiExample

DECISION = {
    "entity": "GB-COH-01234567",
    "entity_name": "Acme Trading Ltd",
    "outcome": "block",
    "source": "automatic",
    "automatic_outcome": "block",
    "as_of": "2026-11-25",
    "policy_version": 3,
    "methods": {
        "look_through": {"outcome": "block", "low": 55.0, "high": 55.0},
        "control_chain": {"outcome": "block", "low": 55.0, "high": 55.0},
    },
    "reasons": ["restricted owners hold 55 % (more than 50 %)"],
    "paths": [{"nodes": ["Li Wei", "Acme Trading Ltd"], "shares": [55.0], "contribution": 55.0}],
    "decision_id": 812,
    "computed_at": "2026-11-25T09:12:44Z",
    "override": None,
    "exemption": None,
    "updated_at": "2026-11-25T09:12:44Z",
}

DECISION_OUT = OpenApiExample("Blocked customer", value=DECISION, response_only=True)
CHANGES_OUT = OpenApiExample(
    "One change",
    value={
        "results": [
            {
                "seq": 41,
                "type": "decision.changed",
                "entity": "GB-COH-01234567",
                "outcome": "block",
                "source": "automatic",
                "previous_outcome": "allow",
                "previous_source": "automatic",
                "occurred_at": "2026-11-25T09:12:44Z",
                "reason": "new decision 812",
                "decision": DECISION,
            }
        ],
        "next_cursor": "c2VxOjQx",
        "has_more": False,
    },
    response_only=True,
)
VALIDATION_ERROR = OpenApiExample(
    "Validation error",
    value={
        "type": "validation_error",
        "errors": [{"code": "required", "detail": "This field is required.", "attr": "name"}],
    },
    response_only=True,
)
UNPROCESSABLE = OpenApiExample(
    "Refused",
    value={
        "type": "validation_error",
        "errors": [
            {"code": "invalid", "detail": "Case SC-2026-000007 must be in review to confirm its outcome.", "attr": None}
        ],
    },
    response_only=True,
)
ENTITY_IN = OpenApiExample(
    "Registered company",
    value={
        "external_id": "GB-COH-01234567",
        "name": "Acme Trading Ltd",
        "entity_type": "registeredEntity",
        "jurisdiction": "GB",
        "identifiers": [{"scheme": "GB-COH", "value": "01234567"}],
    },
    request_only=True,
)
ENTITY_UPDATE = OpenApiExample("Moved to Hong Kong", value={"jurisdiction": "HK"}, request_only=True)
PERSON_IN = OpenApiExample(
    "Known person",
    value={"external_id": "person-li-wei", "name": "Li Wei", "nationalities": ["CN"]},
    request_only=True,
)
PERSON_UPDATE = OpenApiExample("New residence", value={"residence_countries": ["RU"]}, request_only=True)
RELATIONSHIP_IN = OpenApiExample(
    "55 % shareholding",
    value={
        "external_id": "rel-acme-liwei",
        "subject": "GB-COH-01234567",
        "interested_person": "person-li-wei",
        "interests": [{"type": "shareholding", "direct_or_indirect": "direct", "share_exact": "55"}],
    },
    request_only=True,
)
RELATIONSHIP_UPDATE = OpenApiExample(
    "Reduced to a band",
    value={"interests": [{"type": "shareholding", "share_minimum": "25", "share_maximum": "50"}]},
    request_only=True,
)
SCREENING_SIMPLE = OpenApiExample(
    "Simple JSON owners",
    value={
        "customer_reference": "CRM-1001",
        "entity": {"external_id": "GB-COH-01234567", "name": "Acme Trading Ltd", "jurisdiction": "GB"},
        "owners": [
            {
                "person": {"external_id": "person-li-wei", "name": "Li Wei", "nationalities": ["CN"]},
                "interests": [{"type": "shareholding", "share_exact": "55"}],
            },
            {
                "person": {"external_id": "person-jane-roe", "name": "Jane Roe", "nationalities": ["GB"]},
                "interests": [{"type": "shareholding", "share_exact": "45"}],
            },
        ],
    },
    request_only=True,
)
SCREENING_BODS = OpenApiExample(
    "BODS 0.4 statements",
    value={
        "customer_reference": "CRM-1002",
        "entity_external_id": "bods-entity-1",
        "bods": [
            {
                "statementId": "b1f3c5e7-0000-4000-8000-000000000001",
                "declarationSubject": "bods-entity-1",
                "statementDate": "2026-01-01",
                "recordId": "bods-entity-1",
                "recordType": "entity",
                "recordStatus": "new",
                "recordDetails": {
                    "isComponent": False,
                    "entityType": {"type": "registeredEntity"},
                    "name": "Example Ltd",
                    "jurisdiction": {"code": "GB", "name": "United Kingdom"},
                },
                "publicationDetails": {
                    "publicationDate": "2026-01-01",
                    "bodsVersion": "0.4",
                    "publisher": {"name": "CRM"},
                },
            }
        ],
    },
    request_only=True,
)
SCREENING_OUT = OpenApiExample(
    "Needs review",
    value={"customer_reference": "CRM-1001", "customer_created": True, "decision": DECISION, "case": "SC-2026-000042"},
    response_only=True,
)
ASSIGN_IN = OpenApiExample("Assign to a colleague", value={"username": "jdoe"}, request_only=True)
NOTE_IN = OpenApiExample(
    "Note", value={"text": "Called the customer; shareholder register requested."}, request_only=True
)
OVERRIDE_IN = OpenApiExample(
    "Loosen to review", value={"outcome": "review", "reason": "Registry shows the stake was sold."}, request_only=True
)
EXEMPTION_IN = OpenApiExample(
    "Three months",
    value={"reason": "Wind-down contract approved by legal.", "expires_on": "2027-02-28"},
    request_only=True,
)
APPROVAL_IN = OpenApiExample("Approve", value={"note": "Checked the registry extract."}, request_only=True)

ENTITY = {
    "external_id": "GB-COH-01234567",
    "name": "Acme Trading Ltd",
    "entity_type": "registeredEntity",
    "entity_subtype": "",
    "jurisdiction": "GB",
    "registered_address_country": None,
    "business_address_countries": [],
    "alternate_names": [],
    "addresses": [],
    "is_listed": False,
    "founding_date": None,
    "dissolution_date": None,
    "identifiers": [{"scheme": "GB-COH", "scheme_name": "", "value": "01234567", "uri": ""}],
    "is_closed": False,
    "current_outcome": "block",
    "effective_outcome": "block",
    "created_at": "2026-11-25T09:12:40Z",
    "updated_at": "2026-11-25T09:12:40Z",
}
ENTITY_OUT = OpenApiExample("Entity", value=ENTITY, response_only=True)
PERSON_OUT = OpenApiExample(
    "Person",
    value={
        "external_id": "person-li-wei",
        "name": "Li Wei",
        "person_type": "knownPerson",
        "nationalities": ["CN"],
        "residence_countries": [],
        "tax_residencies": [],
        "birth_date": "",
        "is_closed": False,
        "created_at": "2026-11-25T09:12:40Z",
        "updated_at": "2026-11-25T09:12:40Z",
    },
    response_only=True,
)
RELATIONSHIP_OUT = OpenApiExample(
    "Relationship",
    value={
        "external_id": "rel-acme-liwei",
        "subject": "GB-COH-01234567",
        "interested_entity": None,
        "interested_person": "person-li-wei",
        "unspecified_reason": "",
        "unspecified_description": "",
        "is_component": False,
        "component_record_ids": [],
        "interests": [
            {
                "type": "shareholding",
                "direct_or_indirect": "direct",
                "beneficial_ownership_or_control": None,
                "share_exact": "55.00000000",
                "share_minimum": None,
                "share_maximum": None,
                "share_minimum_exclusive": False,
                "share_maximum_exclusive": False,
                "start_date": None,
                "end_date": None,
                "details": "",
            }
        ],
        "is_closed": False,
        "created_at": "2026-11-25T09:12:40Z",
        "updated_at": "2026-11-25T09:12:40Z",
    },
    response_only=True,
)
CASE = {
    "reference": "SC-2026-000042",
    "subject": "GB-COH-01234567",
    "status": "in_review",
    "trigger": "api",
    "priority": "high",
    "due_at": "2026-11-27T09:12:44Z",
    "is_overdue": False,
    "assignee": "jdoe",
    "opened_on_decision": 812,
    "outcome": "",
    "decided_by": None,
    "decided_at": None,
    "reopen_count": 0,
    "created_at": "2026-11-25T09:12:44Z",
    "updated_at": "2026-11-25T10:01:02Z",
}
CASE_OUT = OpenApiExample("Case", value={**CASE, "notes": [], "overrides": [], "exemptions": []}, response_only=True)
CASE_LIST_OUT = OpenApiExample("Case", value=CASE, response_only=True)
OVERRIDE_OUT = OpenApiExample(
    "Override",
    value={
        "id": 7,
        "case": "SC-2026-000042",
        "decision": 812,
        "automatic_outcome": "block",
        "proposed_outcome": "review",
        "reason": "Registry shows the stake was sold.",
        "status": "proposed",
        "proposed_by": "jdoe",
        "approved_by": None,
        "decided_at": None,
        "decision_note": "",
        "applied_at": None,
        "created_at": "2026-11-25T10:05:00Z",
    },
    response_only=True,
)
EXEMPTION_OUT = OpenApiExample(
    "Exemption",
    value={
        "id": 3,
        "entity": "GB-COH-01234567",
        "case": "SC-2026-000042",
        "reason": "Wind-down contract approved by legal.",
        "expires_on": "2027-02-28",
        "status": "requested",
        "requested_by": "jdoe",
        "requested_at": "2026-11-25T10:05:00Z",
        "approved_by": None,
        "decided_at": None,
        "decision_note": "",
        "ended_at": None,
        "end_reason": "",
    },
    response_only=True,
)

_REPLAY_FIGURES = {
    "outcome": "allow",
    "look_through.outcome": "allow",
    "look_through.low": 12.0,
    "look_through.high": 12.0,
    "control_chain.outcome": "allow",
    "control_chain.low": 20.0,
    "control_chain.high": 20.0,
}
REPLAY_OUT = OpenApiExample(
    "Same figures, data unchanged",
    value={
        "decision": 812,
        "entity": "GB-COH-01234567",
        "as_of": "2026-03-03",
        "computed_at": "2026-03-03T06:00:12.118000+00:00",
        "policy_version": 3,
        "available": True,
        "message": "",
        "input_fingerprint": "59a166d76ca46f1273adb69d68ce4cd670ae4eb69b26d735f915ede987297450",
        "snapshot_intact": True,
        "input_nodes": 4,
        "input_edges": 3,
        "same_result": True,
        "stored": _REPLAY_FIGURES,
        "replayed": _REPLAY_FIGURES,
        "differences": [],
        "today_input_fingerprint": "59a166d76ca46f1273adb69d68ce4cd670ae4eb69b26d735f915ede987297450",
        "input_fingerprint_match": True,
    },
    response_only=True,
)
REPORT_OUT = OpenApiExample("A PDF document", value="%PDF-1.4 …", media_type="application/pdf", response_only=True)
