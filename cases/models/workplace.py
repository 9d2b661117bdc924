"""The investigator's own workplace: saved work-queue filters and @mentions in case notes."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SavedQueueFilter(models.Model):
    """A named work-queue query (the changelist's query string), kept per user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_filters")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True, help_text="The queue's query string, without the '?'.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("saved queue filter")
        verbose_name_plural = _("saved queue filters")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="savedqueuefilter_name_unique_per_user"),
            models.CheckConstraint(condition=~Q(name=""), name="savedqueuefilter_name_not_blank"),
        ]

    def __str__(self) -> str:
        return self.name


class CaseMention(models.Model):
    """Someone wrote @username in a case note: the mentioned user sees it on their home page until read."""

    note = models.ForeignKey("cases.CaseNote", on_delete=models.PROTECT, related_name="mentions")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_mentions")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("case mention")
        verbose_name_plural = _("case mentions")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]
        constraints = [models.UniqueConstraint(fields=["note", "user"], name="casemention_once_per_note")]

    def __str__(self) -> str:
        return f"@{self.user_id} in note {self.note_id}"
