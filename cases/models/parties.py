"""Entities and persons: the parties of the ownership graph (BODS 0.4 records).

Two models rather than one "party" table, because they carry different facts
(an entity has a registration jurisdiction and addresses; a person has
nationalities and residences) and only entities are screened. A relationship
points at exactly one kind of interested party (see ``ownership.Relationship``).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import EntitySubtype, EntityType, PersonType
from .fields import EncodedJSONField
from .validation import ConstraintMessages


class SourcedRecord(models.Model):
    """Fields every BODS-backed record keeps: its identity and provenance."""

    external_id = models.CharField(
        max_length=255, unique=True, help_text="The integration's id; for BODS imports, the recordId."
    )
    statement_id = models.CharField(
        max_length=255, blank=True, help_text="The BODS statement that last set this record."
    )
    statement_date = models.DateField(null=True, blank=True)
    source = models.JSONField(default=dict, blank=True, help_text="BODS source object (type, description, url).")
    is_closed = models.BooleanField(default=False, help_text="A BODS statement with recordStatus 'closed' ended it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


class Entity(ConstraintMessages, SourcedRecord):
    # The JSON columns of the table imports fill fastest have no SQLite JSON_VALID check (``EncodedJSONField``).
    source = EncodedJSONField(default=dict, blank=True, help_text="BODS source object (type, description, url).")
    # Indexed in ``Meta``, without the prefix-``LIKE`` twin a field's ``db_index`` makes on PostgreSQL:
    # searches by name are case-insensitive (``icontains``), which neither index serves.
    name = models.CharField(max_length=500)
    alternate_names = EncodedJSONField(default=list, blank=True)
    entity_type = models.CharField(max_length=20, choices=EntityType.choices, default=EntityType.REGISTERED_ENTITY)
    entity_subtype = models.CharField(max_length=30, choices=EntitySubtype.choices, blank=True)
    jurisdiction = models.ForeignKey(
        "cases.Jurisdiction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Jurisdiction of registration (for a state or state body: the state's own).",
        db_index=False,  # the (jurisdiction, entity_type) index below serves every lookup by jurisdiction
    )
    registered_address_country = models.ForeignKey(
        "cases.Jurisdiction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # indexed in Meta: a text key's db_index adds a prefix-LIKE twin on PostgreSQL
    )
    business_address_countries = EncodedJSONField(
        default=list, blank=True, help_text="Countries of every business (headquarters) address."
    )
    addresses = EncodedJSONField(default=list, blank=True, help_text="BODS addresses as published.")
    is_listed = models.BooleanField(
        default=False, help_text="publicListing.hasPublicListing: undisclosed remainder is public float."
    )
    listing = EncodedJSONField(default=dict, blank=True, help_text="BODS publicListing object.")
    founding_date = models.DateField(null=True, blank=True)
    dissolution_date = models.DateField(null=True, blank=True)

    constraint_messages = {
        "entity_dissolved_after_founded": (
            "dissolution_date",
            "The dissolution date cannot be before the founding date.",
        ),
        "entity_external_id_not_blank": ("external_id", "An external id is required."),
    }

    class Meta:
        verbose_name = _("entity")
        verbose_name_plural = _("entities")
        ordering = ["name"]
        indexes = [
            models.Index(fields=["jurisdiction", "entity_type"]),
            models.Index(fields=["name"], name="entity_name_idx"),
            models.Index(fields=["registered_address_country"], name="entity_registered_country_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(external_id=""), name="entity_external_id_not_blank"),
            models.CheckConstraint(
                condition=models.Q(dissolution_date__isnull=True)
                | models.Q(founding_date__isnull=True)
                | models.Q(dissolution_date__gte=models.F("founding_date")),
                name="entity_dissolved_after_founded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.external_id}]"

    @property
    def is_state(self) -> bool:
        return self.entity_type in (EntityType.STATE, EntityType.STATE_BODY)

    @property
    def is_unidentified(self) -> bool:
        return self.entity_type in (EntityType.ANONYMOUS_ENTITY, EntityType.UNKNOWN_ENTITY)


class EntityIdentifier(models.Model):
    """LEI, registry numbers and other identifiers, indexed so investigators can search by them."""

    # No index of its own: the unique (entity, scheme, value) constraint's index starts with it.
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="identifiers", db_index=False)
    scheme = models.CharField(max_length=100, blank=True, help_text="e.g. XI-LEI, GB-COH")
    scheme_name = models.CharField(max_length=200, blank=True)
    value = models.CharField(max_length=255)  # indexed in Meta, without a prefix-LIKE twin (searches are exact)
    uri = models.URLField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("entity identifier")
        verbose_name_plural = _("entity identifiers")
        indexes = [models.Index(fields=["value"], name="entityidentifier_value_idx")]
        constraints = [
            models.UniqueConstraint(fields=["entity", "scheme", "value"], name="identifier_unique_per_entity")
        ]

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}" if self.scheme else self.value


class Person(SourcedRecord):
    name = models.CharField(max_length=500, help_text="Primary full name.")  # indexed in Meta, as Entity.name
    names = models.JSONField(default=list, blank=True, help_text="BODS names as published.")
    person_type = models.CharField(max_length=20, choices=PersonType.choices, default=PersonType.KNOWN_PERSON)
    nationalities = models.JSONField(default=list, blank=True, help_text="Country codes.")
    residence_countries = models.JSONField(default=list, blank=True, help_text="Country codes of residence.")
    tax_residencies = models.JSONField(default=list, blank=True, help_text="Country codes of tax residence.")
    birth_date = models.CharField(max_length=10, blank=True, help_text="BODS allows YYYY, YYYY-MM or a full date.")

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        ordering = ["name"]
        indexes = [models.Index(fields=["name"], name="person_name_idx")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(external_id=""), name="person_external_id_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.get_person_type_display()} [{self.external_id}]"

    @property
    def is_identified(self) -> bool:
        return self.person_type == PersonType.KNOWN_PERSON


class Customer(models.Model):
    """An entity the business sells to. Customers get cases and effective decisions."""

    entity = models.OneToOneField(Entity, on_delete=models.PROTECT, related_name="customer")
    customer_reference = models.CharField(
        max_length=255, unique=True, help_text="The integrating system's own reference (billing/CRM id)."
    )
    onboarded_on = models.DateField()
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["customer_reference"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(customer_reference=""), name="customer_reference_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_reference} ({self.entity.name})"
