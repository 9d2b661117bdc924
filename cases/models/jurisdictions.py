"""Jurisdictions: ISO 3166-1 countries and ISO 3166-2 subdivisions.

The code is the primary key so that foreign keys store readable codes ("CN",
"CN-SH") and a subdivision can be mapped to its country by its prefix, which is
how the policy treats them (a CN-SH company is a Chinese company).
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def country_of(code: str) -> str:
    """The ISO 3166-1 alpha-2 country of a 3166-1 or 3166-2 code ("CN-SH" -> "CN")."""
    return code.split("-", 1)[0].upper()


def validate_jurisdiction_code(code: str) -> None:
    import pycountry

    code = (code or "").strip().upper()
    if "-" in code:
        if pycountry.subdivisions.get(code=code) is None:
            raise ValidationError(f"{code!r} is not an ISO 3166-2 subdivision code.")
    elif pycountry.countries.get(alpha_2=code) is None:
        raise ValidationError(f"{code!r} is not an ISO 3166-1 alpha-2 country code.")


class Jurisdiction(models.Model):
    code = models.CharField(max_length=6, primary_key=True, validators=[validate_jurisdiction_code])
    name = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("jurisdiction")
        verbose_name_plural = _("jurisdictions")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"),
                name="jurisdiction_code_iso3166",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    @property
    def country_code(self) -> str:
        return country_of(self.code)
