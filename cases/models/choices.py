"""BODS 0.4 codelists, kept verbatim so stored values are the standard's own codes."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EntityType(models.TextChoices):
    REGISTERED_ENTITY = "registeredEntity", "Registered entity"
    LEGAL_ENTITY = "legalEntity", "Legal entity"
    ARRANGEMENT = "arrangement", "Arrangement"
    ANONYMOUS_ENTITY = "anonymousEntity", "Anonymous entity"
    UNKNOWN_ENTITY = "unknownEntity", "Unknown entity"
    STATE = "state", "State"
    STATE_BODY = "stateBody", "State body"


class EntitySubtype(models.TextChoices):
    GOVERNMENT_DEPARTMENT = "governmentDepartment", "Government department"
    STATE_AGENCY = "stateAgency", "State agency"
    OTHER = "other", "Other"
    TRUST = "trust", "Trust"
    NOMINATION = "nomination", "Nomination"


class PersonType(models.TextChoices):
    KNOWN_PERSON = "knownPerson", "Known person"
    ANONYMOUS_PERSON = "anonymousPerson", "Anonymous person"
    UNKNOWN_PERSON = "unknownPerson", "Unknown person"


class UnspecifiedReason(models.TextChoices):
    NO_BENEFICIAL_OWNERS = "noBeneficialOwners", "No beneficial owners"
    SUBJECT_UNABLE = "subjectUnableToConfirmOrIdentifyBeneficialOwner", "Subject unable to confirm or identify"
    NOT_PROVIDED = "interestedPartyHasNotProvidedInformation", "Interested party has not provided information"
    SUBJECT_EXEMPT = "subjectExemptFromDisclosure", "Subject exempt from disclosure"
    PARTY_EXEMPT = "interestedPartyExemptFromDisclosure", "Interested party exempt from disclosure"
    UNKNOWN = "unknown", "Unknown reason"
    UNKNOWN_TO_PUBLISHER = "informationUnknownToPublisher", "Information unknown to the publisher"


class InterestType(models.TextChoices):
    SHAREHOLDING = "shareholding", "Shareholding"
    VOTING_RIGHTS = "votingRights", "Voting rights"
    APPOINTMENT_OF_BOARD = "appointmentOfBoard", "Appointment of board"
    OTHER_INFLUENCE_OR_CONTROL = "otherInfluenceOrControl", "Other influence or control"
    SENIOR_MANAGING_OFFICIAL = "seniorManagingOfficial", "Senior managing official"
    SETTLOR = "settlor", "Settlor"
    TRUSTEE = "trustee", "Trustee"
    PROTECTOR = "protector", "Protector"
    BENEFICIARY_OF_LEGAL_ARRANGEMENT = "beneficiaryOfLegalArrangement", "Beneficiary of a legal arrangement"
    RIGHTS_TO_SURPLUS_ASSETS = "rightsToSurplusAssetsOnDissolution", "Rights to surplus assets on dissolution"
    RIGHTS_TO_PROFIT_OR_INCOME = "rightsToProfitOrIncome", "Rights to receive profits or income"
    RIGHTS_GRANTED_BY_CONTRACT = "rightsGrantedByContract", "Rights granted by contract"
    CONDITIONAL_RIGHTS_BY_CONTRACT = "conditionalRightsGrantedByContract", "Conditional rights granted by contract"
    CONTROL_VIA_RULES_OR_ARTICLES = "controlViaCompanyRulesOrArticles", "Control via company rules or articles"
    CONTROL_BY_LEGAL_FRAMEWORK = "controlByLegalFramework", "Control by legal framework"
    BOARD_MEMBER = "boardMember", "Board member"
    BOARD_CHAIR = "boardChair", "Board chair"
    UNKNOWN_INTEREST = "unknownInterest", "Unknown interest"
    UNPUBLISHED_INTEREST = "unpublishedInterest", "Unpublished interest"
    ENJOYMENT_AND_USE_OF_ASSETS = "enjoymentAndUseOfAssets", "Enjoyment and use of assets"
    RIGHT_TO_PROFIT_FROM_ASSETS = "rightToProfitOrIncomeFromAssets", "Right to profit or income from assets"
    NOMINEE = "nominee", "Nominee"
    NOMINATOR = "nominator", "Nominator"


# Screening policy section 6: interests that confer control whatever the percentages.
CONTROL_INTERESTS = frozenset(
    {
        InterestType.APPOINTMENT_OF_BOARD,
        InterestType.RIGHTS_GRANTED_BY_CONTRACT,
        InterestType.CONTROL_VIA_RULES_OR_ARTICLES,
    }
)
# Interests that only indicate possible control: they send a case to review.
INDICATOR_INTERESTS = frozenset(
    {
        InterestType.OTHER_INFLUENCE_OR_CONTROL,
        InterestType.CONDITIONAL_RIGHTS_BY_CONTRACT,
        InterestType.UNKNOWN_INTEREST,
        InterestType.NOMINEE,
        InterestType.NOMINATOR,
    }
)
SHARE_INTERESTS = frozenset({InterestType.SHAREHOLDING, InterestType.VOTING_RIGHTS})


class DirectOrIndirect(models.TextChoices):
    DIRECT = "direct", "Direct"
    INDIRECT = "indirect", "Indirect"
    UNKNOWN = "unknown", "Unknown"


class RecordStatus(models.TextChoices):
    NEW = "new", "New"
    UPDATED = "updated", "Updated"
    CLOSED = "closed", "Closed"


class ScreeningMethod(models.TextChoices):
    STRICTEST = "strictest", "Strictest of both methods"
    LOOK_THROUGH = "look_through", "Look-through (multiplicative)"
    CONTROL_CHAIN = "control_chain", "Control chain (OFAC aggregation)"


class Outcome(models.TextChoices):
    ALLOW = "allow", _("Allow")
    REVIEW = "review", _("Review")
    BLOCK = "block", _("Block")
