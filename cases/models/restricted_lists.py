"""Restricted-party lists (US DoD 1260H, Commerce Entity List, OFAC SDN / NS-CMIC …) and name matches.

A list is data, loaded by import (from OpenSanctions' FtM exports or a plain CSV), not
typed in: members carry the identifiers the list publishes (LEI, FtM id, registration
numbers) so that screening can recognise them among the ownership graph's entities
exactly, and their names and aliases so that name screening can find candidates for
customers that arrive without identifiers.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RestrictedListKind(models.TextChoices):
    MILITARY_END_USER = "military", "Military companies (US DoD 1260H)"
    EXPORT_CONTROL = "export_control", "Export control (Commerce Entity List)"
    SANCTIONS = "sanctions", "Sanctions (OFAC SDN)"
    INVESTMENT_BAN = "investment_ban", "Investment ban (OFAC NS-CMIC)"
    OTHER = "other", "Other"


class RestrictedList(models.Model):
    code = models.SlugField(max_length=60, unique=True, help_text="Stable key, e.g. us-dod-1260h.")
    name = models.CharField(max_length=200)
    authority = models.CharField(max_length=200, help_text="Who publishes the list.")
    kind = models.CharField(max_length=20, choices=RestrictedListKind.choices)
    version = models.CharField(max_length=100, blank=True, help_text="Version or edition of the loaded file.")
    published_on = models.DateField(null=True, blank=True, help_text="Date of the loaded edition.")
    source_url = models.URLField(max_length=500, blank=True)
    ftm_datasets = models.JSONField(
        default=list, blank=True, help_text="OpenSanctions dataset names whose entities are members of this list."
    )
    is_active = models.BooleanField(default=True, help_text="Members of an inactive list do not restrict.")
    loaded_from = models.CharField(max_length=1000, blank=True, help_text="File of the last load.")
    loaded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("restricted list")
        verbose_name_plural = _("restricted lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """How reasons name the list: its name and the edition loaded."""
        edition = self.version or (self.published_on.isoformat() if self.published_on else "")
        return f"{self.name} ({edition})" if edition else self.name


class RestrictedListMember(models.Model):
    restricted_list = models.ForeignKey(RestrictedList, on_delete=models.CASCADE, related_name="members")
    record_id = models.CharField(max_length=255, help_text="The member's id in its source (FtM id or CSV row id).")
    name = models.CharField(max_length=500, db_index=True)
    aliases = models.JSONField(default=list, blank=True)
    countries = models.JSONField(default=list, blank=True, help_text="Country codes the list gives.")
    listed_on = models.DateField(null=True, blank=True)
    source = models.JSONField(default=dict, blank=True, help_text="Provenance: source, file, date, record id.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("restricted list member")
        verbose_name_plural = _("restricted list members")
        ordering = ["restricted_list", "name"]
        constraints = [
            models.UniqueConstraint(fields=["restricted_list", "record_id"], name="list_member_unique_record"),
            models.CheckConstraint(condition=~models.Q(record_id=""), name="list_member_record_id_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.restricted_list.code}]"


class RestrictedListIdentifier(models.Model):
    """One identifier of a member, in the same (scheme, value) form as ``EntityIdentifier``."""

    member = models.ForeignKey(RestrictedListMember, on_delete=models.CASCADE, related_name="identifiers")
    scheme = models.CharField(max_length=100, help_text="XI-LEI, FTM, or a registry scheme such as GB-COH")
    value = models.CharField(max_length=255)

    class Meta:
        verbose_name = _("restricted list identifier")
        verbose_name_plural = _("restricted list identifiers")
        indexes = [models.Index(fields=["scheme", "value"])]
        constraints = [
            models.UniqueConstraint(fields=["member", "scheme", "value"], name="list_identifier_unique_per_member")
        ]

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}"


class NameMatch(models.Model):
    """A candidate found by name screening for a customer submitted without identifiers.

    Kept as rows (not only a case note) so the admin and the API show the candidates and
    their scores, and an investigator can see what the matcher saw.
    """

    entity = models.ForeignKey("cases.Entity", on_delete=models.CASCADE, related_name="name_matches")
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    candidate_member = models.ForeignKey(
        RestrictedListMember, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    candidate_entity = models.ForeignKey(
        "cases.Entity", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    candidate_name = models.CharField(max_length=500)
    matched_name = models.CharField(max_length=500, help_text="The candidate's name or alias that scored.")
    score = models.DecimalField(max_digits=5, decimal_places=2, help_text="0–100, after normalisation.")
    country_matches = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("name match")
        verbose_name_plural = _("name matches")
        ordering = ["entity", "-score"]
        constraints = [
            models.CheckConstraint(
                name="name_match_one_candidate",
                condition=models.Q(candidate_member__isnull=False, candidate_entity__isnull=True)
                | models.Q(candidate_member__isnull=True, candidate_entity__isnull=False),
            ),
            models.CheckConstraint(name="name_match_score_0_100", condition=models.Q(score__gte=0, score__lte=100)),
        ]

    def __str__(self) -> str:
        return f"{self.candidate_name} ({self.score})"
