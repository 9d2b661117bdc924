"""The versioned screening policy.

A policy version is never edited in place once it has been used: every decision
records the version it was computed under, so changing the rules means
publishing a new version (``cases.services.policy.policy_publish``). Exactly one
version is active at a time; a partial unique index enforces it.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import ScreeningMethod
from .jurisdictions import country_of

DEFAULT_RESTRICTED = ("CN", "HK", "MO", "RU", "BY", "IR", "KP", "CU", "SY")


class ScreeningPolicy(models.Model):
    version = models.PositiveIntegerField(unique=True, editable=False)
    is_active = models.BooleanField(default=False, editable=False)
    restricted_jurisdictions = models.ManyToManyField("cases.Jurisdiction", related_name="+")
    threshold = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        default=Decimal("50"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percentage T. Majority means more than T (or T or more if inclusive).",
    )
    threshold_inclusive = models.BooleanField(
        default=False, help_text="Count exactly T as majority (the OFAC '50 % or more' reading)."
    )
    count_nationality = models.BooleanField(default=True)
    count_residence = models.BooleanField(default=True)
    count_tax_residence = models.BooleanField(default=True)
    method = models.CharField(max_length=20, choices=ScreeningMethod.choices, default=ScreeningMethod.STRICTEST)
    notes = models.TextField(blank=True, help_text="Why this version was published.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("screening policy")
        verbose_name_plural = _("screening policies")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_policy"),
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0, threshold__lte=100), name="policy_threshold_0_100"
            ),
        ]

    def __str__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"Policy v{self.version} ({state})"

    def restricted_country_codes(self) -> frozenset[str]:
        """Codes as stored; subdivisions of a restricted country are matched by ``is_restricted``."""
        return frozenset(self.restricted_jurisdictions.values_list("code", flat=True))

    @staticmethod
    def code_is_restricted(code: str | None, restricted: frozenset[str]) -> bool:
        """A code is restricted if it, or the country it is a subdivision of, is listed."""
        if not code:
            return False
        code = code.upper()
        return code in restricted or country_of(code) in restricted
