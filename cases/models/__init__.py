"""Models, one module per topic; import from ``cases.models``."""

from .choices import (
    CONTROL_INTERESTS,
    INDICATOR_INTERESTS,
    SHARE_INTERESTS,
    DirectOrIndirect,
    EntitySubtype,
    EntityType,
    InterestType,
    Outcome,
    PersonType,
    RecordStatus,
    ScreeningMethod,
    UnspecifiedReason,
)
from .decisions import CurrentDecision, Decision, DecisionInput
from .imports import BodsStatement, ImportRun
from .jurisdictions import Jurisdiction, country_of
from .ownership import Interest, Relationship
from .parties import Customer, Entity, EntityIdentifier, Person
from .policy import DEFAULT_RESTRICTED, ScreeningPolicy

__all__ = [
    "BodsStatement",
    "ImportRun",
    "CONTROL_INTERESTS",
    "DEFAULT_RESTRICTED",
    "INDICATOR_INTERESTS",
    "SHARE_INTERESTS",
    "CurrentDecision",
    "Customer",
    "Decision",
    "DecisionInput",
    "DirectOrIndirect",
    "Entity",
    "EntityIdentifier",
    "EntitySubtype",
    "EntityType",
    "Interest",
    "InterestType",
    "Jurisdiction",
    "Outcome",
    "Person",
    "PersonType",
    "RecordStatus",
    "Relationship",
    "ScreeningMethod",
    "ScreeningPolicy",
    "UnspecifiedReason",
    "country_of",
]

# Case work and audit trail (cases/models/casework.py, cases/models/audit.py).
from .audit import AppendOnlyError, AuditChainHead, AuditEvent  # noqa: E402
from .casework import (  # noqa: E402
    Case,
    CaseEvidence,
    CaseNote,
    CasePriority,
    CaseReferenceCounter,
    CaseStatus,
    CaseTrigger,
    EffectiveDecision,
    EffectiveSource,
    Exemption,
    ExemptionStatus,
    Override,
    OverrideStatus,
)

__all__ += [
    "AppendOnlyError",
    "AuditChainHead",
    "AuditEvent",
    "Case",
    "CaseEvidence",
    "CaseNote",
    "CasePriority",
    "CaseReferenceCounter",
    "CaseStatus",
    "CaseTrigger",
    "EffectiveDecision",
    "EffectiveSource",
    "Exemption",
    "ExemptionStatus",
    "Override",
    "OverrideStatus",
]

# Integration API: tokens, idempotency, decision change feed, webhooks (cases/models/api.py).
from .api import (  # noqa: E402
    ApiToken,
    DecisionChangeEvent,
    DecisionChangeKind,
    DecisionFeedCounter,
    IdempotencyKey,
    WebhookDelivery,
    WebhookSubscription,
)

__all__ += [
    "ApiToken",
    "DecisionChangeEvent",
    "DecisionChangeKind",
    "DecisionFeedCounter",
    "IdempotencyKey",
    "WebhookDelivery",
    "WebhookSubscription",
]

# Background re-screening bookkeeping (cases/models/rescreen.py).
from .rescreen import RescreenRequest, ScheduledJob, ScreenRun, ScreenRunChunk  # noqa: E402

__all__ += ["RescreenRequest", "ScheduledJob", "ScreenRun", "ScreenRunChunk"]

# Restricted-party lists and name-screening matches (cases/models/restricted_lists.py).
from .restricted_lists import (  # noqa: E402
    NameMatch,
    RestrictedList,
    RestrictedListIdentifier,
    RestrictedListKind,
    RestrictedListMember,
)

__all__ += ["NameMatch", "RestrictedList", "RestrictedListIdentifier", "RestrictedListKind", "RestrictedListMember"]

# The investigator's workplace: saved queue filters, @mentions (cases/models/workplace.py).
from .workplace import CaseMention, SavedQueueFilter  # noqa: E402

__all__ += ["CaseMention", "SavedQueueFilter"]
