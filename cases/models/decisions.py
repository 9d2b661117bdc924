"""Computed screening decisions.

``Decision`` rows are immutable evidence: one per computation whose result
differed from the entity's previous one (an unchanged result is not stored
again, so the table grows with changes, not with re-screens). ``CurrentDecision``
points each entity at its latest decision so reads never scan history.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import Outcome
from .fields import EncodedJSONField, JSONTextField
from .parties import Entity


class Decision(models.Model):
    # No index of its own: ``(entity, -computed_at)`` below serves every lookup by entity, and a first
    # portfolio run writes a decision per entity (each index is written with every row).
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="decisions", db_index=False)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    look_through_outcome = models.CharField(max_length=10, choices=Outcome.choices)
    look_through_low = models.FloatField()
    look_through_high = models.FloatField()
    control_chain_outcome = models.CharField(max_length=10, choices=Outcome.choices)
    control_chain_low = models.FloatField()
    control_chain_high = models.FloatField()
    is_restricted_root = models.BooleanField(default=False)
    # Written only as encoder output (``json_text`` in the store path, the ORM elsewhere): no SQLite CHECK.
    payload = EncodedJSONField(help_text="The decision object exactly as the CLI and API return it.")
    policy = models.ForeignKey("cases.ScreeningPolicy", on_delete=models.PROTECT, related_name="decisions")
    as_of = models.DateField()
    result_fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of outcome, figures, reasons, paths and policy version."
    )
    computed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["entity", "-computed_at"])]
        constraints = [
            models.CheckConstraint(
                name="decision_figures_in_range",
                condition=models.Q(
                    look_through_low__gte=0,
                    look_through_high__lte=100,
                    control_chain_low__gte=0,
                    control_chain_high__lte=100,
                    look_through_low__lte=models.F("look_through_high"),
                    control_chain_low__lte=models.F("control_chain_high"),
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity.external_id}: {self.outcome} (policy v{self.policy.version}, {self.as_of})"

    @property
    def reasons(self) -> list[str]:
        return self.payload.get("reasons", [])

    @property
    def paths(self) -> list[dict]:
        return self.payload.get("paths", [])


class CurrentDecision(models.Model):
    entity = models.OneToOneField(Entity, on_delete=models.CASCADE, primary_key=True, related_name="current")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    screened_at = models.DateTimeField(help_text="When the entity was last screened (even if nothing changed).")
    as_of = models.DateField()

    class Meta:
        verbose_name = _("current decision")
        verbose_name_plural = _("current decisions")

    def __str__(self) -> str:
        return f"{self.entity_id}: {self.outcome}"


class DecisionInput(models.Model):
    """What the engine saw for one decision: its entity's upstream closure as in force on the screening date.

    Kept so a decision can be replayed on the graph as it was (``cases.services.replay``), however the
    ownership rows change later; ``fingerprint`` identifies the input (``cases.ownership.snapshot``).
    Decisions stored before migration 0008 have none.
    """

    decision = models.OneToOneField(Decision, on_delete=models.PROTECT, primary_key=True, related_name="input")
    # Not indexed: replay reads an input by its decision and compares fingerprints; nothing looks one up.
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical snapshot.")
    snapshot = JSONTextField(help_text="Closure nodes and edges, as cases.ownership.snapshot writes them.")

    class Meta:
        verbose_name = _("decision input")
        verbose_name_plural = _("decision inputs")
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"input of decision {self.decision_id}"
