"""Serializers: read representations, and input serializers that only validate shapes.

Input serializers never save: the views pass ``validated_data`` to one service.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models import (
    Case,
    CaseNote,
    DirectOrIndirect,
    Entity,
    EntitySubtype,
    EntityType,
    Exemption,
    Interest,
    InterestType,
    Outcome,
    Override,
    Person,
    PersonType,
    Relationship,
    UnspecifiedReason,
)
from cases.services.cases import case_allowed_actions

# -- parties ---------------------------------------------------------------------------------


class WholeItems:
    """A nested item is validated whole even in a PATCH.

    DRF's partial mode is read from the root serializer by every field, nested ones too, so a PATCH
    skipped the items' required fields and defaults: ``{"identifiers": [{}]}`` reached the service
    without a ``value`` (KeyError: a 500). Partial means "not every top-level field", never half an item.
    """

    def run_validation(self, data=serializers.empty):
        if not getattr(self.root, "partial", False) or self.root is self:
            return super().run_validation(data)
        whole = type(self)(data=data, context=self.context)
        whole.is_valid(raise_exception=True)
        return whole.validated_data


class IdentifierSerializer(WholeItems, serializers.Serializer):
    scheme = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="e.g. XI-LEI, GB-COH")
    scheme_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    value = serializers.CharField(max_length=255)
    uri = serializers.URLField(max_length=500, required=False, allow_blank=True)


class EntitySerializer(serializers.ModelSerializer):
    jurisdiction = serializers.CharField(source="jurisdiction_id", allow_null=True)
    registered_address_country = serializers.CharField(source="registered_address_country_id", allow_null=True)
    identifiers = IdentifierSerializer(many=True)
    current_outcome = serializers.SerializerMethodField(help_text="The latest automatic screening outcome.")
    effective_outcome = serializers.SerializerMethodField(help_text="What the business acts on (customers only).")
    provenance = serializers.JSONField(
        source="source",
        read_only=True,
        help_text="Where the record comes from: source, file, date, record id (BODS, GLEIF, OpenSanctions imports).",
    )

    class Meta:
        model = Entity
        fields = [
            "external_id",
            "name",
            "entity_type",
            "entity_subtype",
            "jurisdiction",
            "registered_address_country",
            "business_address_countries",
            "alternate_names",
            "addresses",
            "is_listed",
            "founding_date",
            "dissolution_date",
            "identifiers",
            "is_closed",
            "current_outcome",
            "effective_outcome",
            "provenance",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=Outcome.choices, allow_null=True))
    def get_current_outcome(self, obj):
        current = getattr(obj, "current", None) if _has_related(obj, "current") else None
        return current.outcome if current else None

    @extend_schema_field(serializers.ChoiceField(choices=Outcome.choices, allow_null=True))
    def get_effective_outcome(self, obj):
        effective = getattr(obj, "effective", None) if _has_related(obj, "effective") else None
        return effective.outcome if effective else None


def _has_related(obj, name: str) -> bool:
    try:
        getattr(obj, name)
    except Exception:  # RelatedObjectDoesNotExist
        return False
    return True


class EntityInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255, help_text="Your system's id for the entity (unique).")
    name = serializers.CharField(max_length=500)
    entity_type = serializers.ChoiceField(choices=EntityType.choices, default=EntityType.REGISTERED_ENTITY)
    entity_subtype = serializers.ChoiceField(choices=EntitySubtype.choices, required=False, allow_blank=True)
    jurisdiction = serializers.CharField(
        max_length=6, required=False, allow_null=True, allow_blank=True, help_text="ISO 3166-1/-2 of registration"
    )
    registered_address_country = serializers.CharField(max_length=6, required=False, allow_null=True, allow_blank=True)
    business_address_countries = serializers.ListField(
        child=serializers.CharField(max_length=6), required=False, help_text="Countries of business addresses."
    )
    alternate_names = serializers.ListField(child=serializers.CharField(max_length=500), required=False)
    is_listed = serializers.BooleanField(required=False, help_text="Publicly listed: undisclosed float is clean.")
    founding_date = serializers.DateField(required=False, allow_null=True)
    dissolution_date = serializers.DateField(required=False, allow_null=True)
    identifiers = IdentifierSerializer(many=True, required=False)


class EntityUpdateSerializer(EntityInputSerializer):
    external_id = None  # the URL names the entity; its external id never changes


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = Person
        fields = [
            "external_id",
            "name",
            "person_type",
            "nationalities",
            "residence_countries",
            "tax_residencies",
            "birth_date",
            "is_closed",
            "created_at",
            "updated_at",
        ]


class PersonInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=500, allow_blank=True, default="")
    person_type = serializers.ChoiceField(choices=PersonType.choices, default=PersonType.KNOWN_PERSON)
    nationalities = serializers.ListField(child=serializers.CharField(max_length=6), required=False)
    residence_countries = serializers.ListField(child=serializers.CharField(max_length=6), required=False)
    tax_residencies = serializers.ListField(child=serializers.CharField(max_length=6), required=False)
    birth_date = serializers.RegexField(
        r"^\d{4}(-\d{2}(-\d{2})?)?$", required=False, allow_blank=True, help_text="YYYY, YYYY-MM or YYYY-MM-DD"
    )


class PersonUpdateSerializer(PersonInputSerializer):
    external_id = None


# -- relationships -----------------------------------------------------------------------------

SHARE = {"max_digits": 11, "decimal_places": 8, "min_value": 0, "max_value": 100, "required": False, "allow_null": True}


class InterestSerializer(WholeItems, serializers.ModelSerializer):
    type = serializers.ChoiceField(source="interest_type", choices=InterestType.choices)
    direct_or_indirect = serializers.ChoiceField(choices=DirectOrIndirect.choices, default=DirectOrIndirect.UNKNOWN)
    share_exact = serializers.DecimalField(**SHARE)
    share_minimum = serializers.DecimalField(**SHARE)
    share_maximum = serializers.DecimalField(**SHARE)

    class Meta:
        model = Interest
        fields = [
            "type",
            "direct_or_indirect",
            "beneficial_ownership_or_control",
            "share_exact",
            "share_minimum",
            "share_maximum",
            "share_minimum_exclusive",
            "share_maximum_exclusive",
            "start_date",
            "end_date",
            "details",
        ]
        extra_kwargs = {
            "beneficial_ownership_or_control": {"required": False},
            "share_minimum_exclusive": {"required": False},
            "share_maximum_exclusive": {"required": False},
            "start_date": {"required": False},
            "end_date": {"required": False},
            "details": {"required": False},
        }

    def validate(self, attrs):
        if attrs.get("share_exact") is not None and (
            attrs.get("share_minimum") is not None or attrs.get("share_maximum") is not None
        ):
            raise serializers.ValidationError({"share_exact": "Give an exact share or a range, not both."})
        return attrs


class RelationshipSerializer(serializers.ModelSerializer):
    subject = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    interested_entity = serializers.SlugRelatedField(slug_field="external_id", read_only=True, allow_null=True)
    interested_person = serializers.SlugRelatedField(slug_field="external_id", read_only=True, allow_null=True)
    interests = InterestSerializer(many=True, read_only=True)

    class Meta:
        model = Relationship
        fields = [
            "external_id",
            "subject",
            "interested_entity",
            "interested_person",
            "unspecified_reason",
            "unspecified_description",
            "is_component",
            "component_record_ids",
            "interests",
            "is_closed",
            "created_at",
            "updated_at",
        ]


class RelationshipInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    subject = serializers.CharField(max_length=255, help_text="External id of the owned entity.")
    interested_entity = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    interested_person = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    unspecified_reason = serializers.ChoiceField(choices=UnspecifiedReason.choices, required=False, allow_blank=True)
    unspecified_description = serializers.CharField(required=False, allow_blank=True)
    interests = InterestSerializer(many=True, allow_empty=False)

    def validate(self, attrs):
        given = [bool(attrs.get(k)) for k in ("interested_entity", "interested_person", "unspecified_reason")]
        if sum(given) != 1:
            raise serializers.ValidationError(
                {"interested_entity": "Give exactly one of interested_entity, interested_person, unspecified_reason."}
            )
        return attrs


class RelationshipUpdateSerializer(serializers.Serializer):
    interested_entity = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    interested_person = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    unspecified_reason = serializers.ChoiceField(choices=UnspecifiedReason.choices, required=False, allow_blank=True)
    interests = InterestSerializer(many=True, required=False, allow_empty=False)


def interests_to_service(items) -> list[dict]:
    return [{**item} for item in items or []]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


# -- decisions -----------------------------------------------------------------------------------


class MethodFiguresSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    low = serializers.FloatField()
    high = serializers.FloatField()


class MethodsSerializer(serializers.Serializer):
    look_through = MethodFiguresSerializer()
    control_chain = MethodFiguresSerializer()


class PathSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.CharField())
    shares = serializers.ListField(child=serializers.FloatField())
    contribution = serializers.FloatField()


class DecisionSerializer(serializers.Serializer):
    """Spec section 11 decision object of the EFFECTIVE decision, plus its source."""

    entity = serializers.CharField(help_text="The entity's external id.")
    entity_name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Outcome.choices, help_text="The effective outcome: act on this.")
    source = serializers.ChoiceField(choices=["automatic", "override", "exemption"])
    automatic_outcome = serializers.ChoiceField(choices=Outcome.choices)
    as_of = serializers.DateField()
    policy_version = serializers.IntegerField()
    methods = MethodsSerializer()
    reasons = serializers.ListField(child=serializers.CharField())
    paths = PathSerializer(many=True)
    decision_id = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    override = serializers.DictField(allow_null=True)
    exemption = serializers.DictField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class DecisionChangeSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="Commit-ordered position in the feed.")
    type = serializers.ChoiceField(choices=["decision.changed", "decision.removed"])
    entity = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_null=True)
    source = serializers.CharField(allow_null=True)
    previous_outcome = serializers.ChoiceField(choices=Outcome.choices, allow_null=True)
    previous_source = serializers.CharField(allow_null=True)
    occurred_at = serializers.DateTimeField()
    reason = serializers.CharField(allow_blank=True)
    decision = serializers.DictField(help_text="The effective decision object at that moment.")


class DecisionChangePageSerializer(serializers.Serializer):
    results = DecisionChangeSerializer(many=True)
    next_cursor = serializers.CharField(help_text="Pass as ?cursor= next time; unchanged when nothing is new.")
    has_more = serializers.BooleanField()


# -- screening requests ------------------------------------------------------------------------


class OwnerSerializer(serializers.Serializer):
    person = PersonInputSerializer(required=False)
    entity = EntityInputSerializer(required=False)
    unspecified_reason = serializers.ChoiceField(choices=UnspecifiedReason.choices, required=False)
    relationship_id = serializers.CharField(max_length=255, required=False, help_text="Default: <subject>~<owner>.")
    interests = InterestSerializer(many=True, allow_empty=False)

    def validate(self, attrs):
        if sum(bool(attrs.get(k)) for k in ("person", "entity", "unspecified_reason")) != 1:
            raise serializers.ValidationError(
                {"person": "Give exactly one of person, entity or unspecified_reason for each owner."}
            )
        return attrs


class ScreeningRequestSerializer(serializers.Serializer):
    customer_reference = serializers.CharField(max_length=255, help_text="Your billing/CRM id for the customer.")
    entity = EntityInputSerializer(required=False, help_text="The customer entity (created or updated).")
    entity_external_id = serializers.CharField(
        max_length=255, required=False, help_text="Instead of entity: an existing entity, or the BODS recordId."
    )
    owners = OwnerSerializer(many=True, required=False, help_text="Known owners in the simple JSON form.")
    bods = serializers.ListField(
        child=serializers.DictField(), required=False, allow_empty=False, help_text="BODS 0.4 statements."
    )
    onboarded_on = serializers.DateField(required=False)

    def validate(self, attrs):
        if not attrs.get("entity") and not attrs.get("entity_external_id"):
            raise serializers.ValidationError({"entity": "Give entity or entity_external_id."})
        return attrs


class ScreeningResultSerializer(serializers.Serializer):
    customer_reference = serializers.CharField()
    customer_created = serializers.BooleanField()
    decision = DecisionSerializer()
    case = serializers.CharField(allow_null=True, help_text="Open case reference when the customer needs review.")


# -- cases -----------------------------------------------------------------------------------------


class CaseNoteSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CaseNote
        fields = ["id", "author", "text", "is_system", "created_at"]


class OverrideSerializer(serializers.ModelSerializer):
    case = serializers.SlugRelatedField(slug_field="reference", read_only=True)
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Override
        fields = [
            "id",
            "case",
            "decision",
            "automatic_outcome",
            "proposed_outcome",
            "reason",
            "status",
            "proposed_by",
            "approved_by",
            "decided_at",
            "decision_note",
            "applied_at",
            "created_at",
        ]


class ExemptionSerializer(serializers.ModelSerializer):
    entity = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    case = serializers.SlugRelatedField(slug_field="reference", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Exemption
        fields = [
            "id",
            "entity",
            "case",
            "reason",
            "expires_on",
            "status",
            "requested_by",
            "requested_at",
            "approved_by",
            "decided_at",
            "decision_note",
            "ended_at",
            "end_reason",
        ]


class CaseSerializer(serializers.ModelSerializer):
    subject = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Case
        fields = [
            "reference",
            "subject",
            "status",
            "trigger",
            "priority",
            "due_at",
            "is_overdue",
            "assignee",
            "opened_on_decision",
            "outcome",
            "decided_by",
            "decided_at",
            "reopen_count",
            "created_at",
            "updated_at",
        ]


class CaseDetailSerializer(CaseSerializer):
    notes = CaseNoteSerializer(many=True, read_only=True)
    overrides = OverrideSerializer(many=True, read_only=True)
    exemptions = ExemptionSerializer(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField(
        help_text="What the requesting user may do to this case now (the admin shows the same buttons)."
    )

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "notes", "overrides", "exemptions", "allowed_actions"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_actions(self, case) -> list[str]:
        request = self.context.get("request")
        if request is None:
            return []
        return sorted(case_allowed_actions(case=case, user=request.user))


class AssignSerializer(serializers.Serializer):
    username = serializers.CharField(required=False, help_text="Assign to this user; omit to take the case yourself.")


class NoteInputSerializer(serializers.Serializer):
    text = serializers.CharField()


class OverrideInputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    reason = serializers.CharField()


class ApprovalSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ExemptionInputSerializer(serializers.Serializer):
    reason = serializers.CharField()
    expires_on = serializers.DateField(help_text="Last day; after today, at most one year ahead.")


@extend_schema_field(OpenApiTypes.OBJECT)
class AnyObject(serializers.DictField):
    pass
