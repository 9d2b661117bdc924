"""Relationships (interested party -> subject entity) and their interests.

Shares are stored exactly as published, as decimals in percent, with the
exclusive-bound flags BODS 0.4 expresses by using ``exclusiveMinimum`` or
``exclusiveMaximum`` instead of ``minimum``/``maximum``. Conversion to the
engine's fractions happens in one place (``cases.services.screening``).
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .choices import DirectOrIndirect, InterestType, UnspecifiedReason
from .parties import Entity, Person, SourcedRecord
from .validation import ConstraintMessages

PERCENT = {"max_digits": 11, "decimal_places": 8}


class Relationship(ConstraintMessages, SourcedRecord):
    # No index of its own: the (subject, is_closed) index below starts with it.
    subject = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="owner_relationships", db_index=False)
    interested_entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="held_relationships"
    )
    interested_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="held_relationships"
    )
    unspecified_reason = models.CharField(
        max_length=60,
        choices=UnspecifiedReason.choices,
        blank=True,
        help_text="Set when the interested party is a BODS UnspecifiedRecord; the reason code is kept and shown.",
    )
    unspecified_description = models.TextField(blank=True)
    is_component = models.BooleanField(
        default=False, help_text="A component of a wider indirect relationship (BODS isComponent)."
    )
    component_record_ids = models.JSONField(
        default=list,
        blank=True,
        help_text="recordIds of the component relationships of this indirect summary (BODS componentRecords).",
    )

    constraint_messages = {
        "relationship_exactly_one_interested_party": (
            "interested_entity",
            "Choose exactly one owner: an entity, a person, or an unspecified reason.",
        ),
        "relationship_not_self_owned": ("interested_entity", "An entity cannot own itself."),
        "relationship_external_id_not_blank": ("external_id", "An external id is required."),
    }

    class Meta:
        verbose_name = _("relationship")
        verbose_name_plural = _("relationships")
        indexes = [models.Index(fields=["subject", "is_closed"])]
        constraints = [
            models.CheckConstraint(
                name="relationship_exactly_one_interested_party",
                condition=(
                    Q(interested_entity__isnull=False, interested_person__isnull=True, unspecified_reason="")
                    | Q(interested_entity__isnull=True, interested_person__isnull=False, unspecified_reason="")
                    | (Q(interested_entity__isnull=True, interested_person__isnull=True) & ~Q(unspecified_reason=""))
                ),
            ),
            models.CheckConstraint(
                name="relationship_not_self_owned",
                condition=Q(interested_entity__isnull=True) | ~Q(interested_entity=F("subject")),
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="relationship_external_id_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.interested_party_label} → {self.subject.name}"

    @property
    def interested_party(self):
        return self.interested_entity or self.interested_person

    @property
    def interested_party_label(self) -> str:
        party = self.interested_party
        if party is not None:
            return party.name
        return f"Unspecified ({self.get_unspecified_reason_display()})"

    @property
    def is_indirect_summary(self) -> bool:
        """Evidence only: its components are the edges (counting both would double-count)."""
        return bool(self.component_record_ids)


SHARE_RANGE = "A share is a percentage from 0 to 100."


class Interest(ConstraintMessages):
    # No index of its own: the (relationship, interest_type) index below starts with it.
    relationship = models.ForeignKey(Relationship, on_delete=models.CASCADE, related_name="interests", db_index=False)
    interest_type = models.CharField(max_length=40, choices=InterestType.choices)
    direct_or_indirect = models.CharField(
        max_length=10, choices=DirectOrIndirect.choices, default=DirectOrIndirect.UNKNOWN
    )
    beneficial_ownership_or_control = models.BooleanField(null=True, blank=True)
    share_exact = models.DecimalField(null=True, blank=True, **PERCENT)
    share_minimum = models.DecimalField(null=True, blank=True, **PERCENT)
    share_maximum = models.DecimalField(null=True, blank=True, **PERCENT)
    share_minimum_exclusive = models.BooleanField(default=False, help_text="Published as exclusiveMinimum.")
    share_maximum_exclusive = models.BooleanField(default=False, help_text="Published as exclusiveMaximum.")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    details = models.TextField(blank=True)

    constraint_messages = {
        "interest_share_exact_0_100": ("share_exact", SHARE_RANGE),
        "interest_share_minimum_0_100": ("share_minimum", SHARE_RANGE),
        "interest_share_maximum_0_100": ("share_maximum", SHARE_RANGE),
        "interest_share_min_le_max": ("share_maximum", "The maximum share cannot be below the minimum."),
        "interest_share_exact_or_range": (
            "share_exact",
            "Give either an exact share or a minimum/maximum range, not both.",
        ),
        "interest_exclusive_flags_need_bound": (
            "share_minimum_exclusive",
            "An exclusive bound needs its minimum or maximum share.",
        ),
        "interest_end_after_start": ("end_date", "The end date cannot be before the start date."),
    }

    class Meta:
        verbose_name = _("interest")
        verbose_name_plural = _("interests")
        indexes = [models.Index(fields=["relationship", "interest_type"])]
        constraints = [
            models.CheckConstraint(
                name="interest_share_exact_0_100",
                condition=Q(share_exact__isnull=True) | Q(share_exact__gte=0, share_exact__lte=100),
            ),
            models.CheckConstraint(
                name="interest_share_minimum_0_100",
                condition=Q(share_minimum__isnull=True) | Q(share_minimum__gte=0, share_minimum__lte=100),
            ),
            models.CheckConstraint(
                name="interest_share_maximum_0_100",
                condition=Q(share_maximum__isnull=True) | Q(share_maximum__gte=0, share_maximum__lte=100),
            ),
            models.CheckConstraint(
                name="interest_share_min_le_max",
                condition=Q(share_minimum__isnull=True)
                | Q(share_maximum__isnull=True)
                | Q(share_minimum__lte=F("share_maximum")),
            ),
            models.CheckConstraint(
                name="interest_share_exact_or_range",
                condition=Q(share_exact__isnull=True) | Q(share_minimum__isnull=True, share_maximum__isnull=True),
            ),
            models.CheckConstraint(
                name="interest_exclusive_flags_need_bound",
                condition=(Q(share_minimum_exclusive=False) | Q(share_minimum__isnull=False))
                & (Q(share_maximum_exclusive=False) | Q(share_maximum__isnull=False)),
            ),
            models.CheckConstraint(
                name="interest_end_after_start",
                condition=Q(start_date__isnull=True) | Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_interest_type_display()} {self.share_display}".strip()

    def clean(self) -> None:
        # An open interval with equal bounds is empty: no share can satisfy it.
        if (
            self.share_minimum is not None
            and self.share_maximum is not None
            and self.share_minimum == self.share_maximum
            and (self.share_minimum_exclusive or self.share_maximum_exclusive)
        ):
            raise ValidationError({"share_maximum": "An exclusive bound equal to the other bound leaves no share."})

    @property
    def has_share(self) -> bool:
        return self.share_exact is not None or self.share_minimum is not None or self.share_maximum is not None

    @property
    def share_display(self) -> str:
        if self.share_exact is not None:
            return f"{self.share_exact.normalize():f} %"
        if not self.has_share:
            return ""
        low = (
            ""
            if self.share_minimum is None
            else f"{'>' if self.share_minimum_exclusive else '≥'}{self.share_minimum.normalize():f}"
        )
        high = (
            ""
            if self.share_maximum is None
            else f"{'<' if self.share_maximum_exclusive else '≤'}{self.share_maximum.normalize():f}"
        )
        return " ".join(part for part in (low, high) if part) + " %"
