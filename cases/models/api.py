"""The integration API's own tables: tokens, idempotency keys, the decision change feed, webhooks.

- ``ApiToken``: NetBox v2 style. The client sends ``<key>.<secret>``; ``key`` is a
  public lookup key, only an HMAC-SHA256 digest of the secret is stored
  (``cases.services.tokens``). Several per user, read/write scopes, expiry,
  revocation, a throttled last-used time.
- ``IdempotencyKey``: one row per (token or user, Idempotency-Key) with the request
  hash and the first response; the unique constraint makes concurrent retries wait
  for, and then replay, the first one (``cases.services.idempotency``).
- ``DecisionChangeEvent``: append-only feed of effective-decision changes. ``seq`` is
  handed out under a row lock on ``DecisionFeedCounter`` inside the transaction that
  changes the EffectiveDecision, so sequence order is commit order (docs/api.md).
- ``WebhookSubscription`` / ``WebhookDelivery``: subscribers and the persistent outbox.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import Outcome
from .parties import Entity


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'billing-prod'.")
    key = models.CharField(max_length=16, unique=True, editable=False, help_text="Public lookup part of the token.")
    digest = models.CharField(max_length=64, editable=False, help_text="HMAC-SHA256 of the secret part.")
    can_read = models.BooleanField(default=True)
    can_write = models.BooleanField(default=False, help_text="Allows POST/PUT/PATCH/DELETE.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(name=""), name="apitoken_name_not_blank")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key}…)"

    @property
    def scopes(self) -> list[str]:
        return [scope for scope, ok in (("read", self.can_read), ("write", self.can_write)) if ok]

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class IdempotencyKey(models.Model):
    owner = models.CharField(max_length=40, help_text="'token:<id>' or 'user:<id>': keys are per credential.")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotencykey_unique_per_owner")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


class DecisionFeedCounter(models.Model):
    """One row; locked (FOR UPDATE) to hand out commit-ordered feed sequence numbers."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("decision feed counter")
        verbose_name_plural = _("decision feed counters")

    def __str__(self) -> str:
        return f"feed head {self.last_seq}"


class DecisionChangeKind(models.TextChoices):
    CHANGED = "decision.changed", "Effective decision changed"
    REMOVED = "decision.removed", "Effective decision removed"


class DecisionChangeEvent(models.Model):
    """Append-only. Written in the same transaction as the EffectiveDecision change it records."""

    seq = models.PositiveBigIntegerField(unique=True, editable=False, help_text="Commit-ordered feed position.")
    kind = models.CharField(max_length=20, choices=DecisionChangeKind.choices, default=DecisionChangeKind.CHANGED)
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    entity_external_id = models.CharField(max_length=255)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    source = models.CharField(max_length=10, blank=True)
    previous_outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    previous_source = models.CharField(max_length=10, blank=True)
    decision = models.ForeignKey("cases.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payload = models.JSONField(help_text="The effective decision object as the API returned it at that moment.")
    reason = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("decision change event")
        verbose_name_plural = _("decision change events")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.entity_external_id}: {self.previous_outcome or '-'} → {self.outcome or '-'}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Decision change events are append-only.")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Decision change events are append-only.")


class WebhookSubscription(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Shared secret for the X-Signature HMAC-SHA256.")
    is_active = models.BooleanField(default=True)
    event_types = models.JSONField(
        default=list, blank=True, help_text='Event kinds to send, e.g. ["decision.changed"]; empty: all.'
    )
    outcomes = models.JSONField(
        default=list, blank=True, help_text='Only changes to these outcomes, e.g. ["block", "review"]; empty: all.'
    )
    customers_only = models.BooleanField(default=False, help_text="Only changes of customers' decisions.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    def wants(self, event: DecisionChangeEvent, *, is_customer: bool = True) -> bool:
        if not self.is_active:
            return False
        if self.event_types and event.kind not in self.event_types:
            return False
        if self.outcomes and event.outcome not in self.outcomes:
            return False
        return is_customer or not self.customers_only


class WebhookDelivery(models.Model):
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(DecisionChangeEvent, on_delete=models.PROTECT, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivered_at__isnull=True, gave_up_at__isnull=True),
                name="webhookdelivery_due",
            )
        ]
        constraints = [models.UniqueConstraint(fields=["subscription", "event"], name="webhookdelivery_once_per_event")]

    def __str__(self) -> str:
        return f"event #{self.event_id} → {self.subscription_id} ({self.status})"

    @property
    def status(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.gave_up_at:
            return "gave up"
        return "pending" if not self.attempts else "retrying"
