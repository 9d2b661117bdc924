"""The append-only, hash-chained audit trail.

Rows are written only by ``cases.services.audit.audit_record``. Each row's
``hash`` is HMAC-SHA256, under the key named by ``key_id`` (a secret outside the
database, ``AUDIT_HMAC_KEYS``), over a canonical JSON of its content plus
``prev_hash`` (the previous row's hash), so editing, deleting or reordering rows
breaks the chain and cannot be repaired without the key; rows from before
migration 0008 keep their plain SHA-256 (``key_id='legacy'``). Signed checkpoint
files outside the database anchor the head (``cases.services.audit_anchor``);
``manage.py verify_audit`` finds the first broken row or checkpoint.

Append-only is enforced three times: ``save()`` refuses updates and ``delete()``
refuses; the manager's queryset refuses ``update()``/``delete()``; and database
triggers (migration 0004) abort UPDATE and DELETE on the table on SQLite and
PostgreSQL. ``AuditChainHead`` is the single row writers lock to serialise appends.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only: update() is not allowed.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only: delete() is not allowed.")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: bulk_update() is not allowed.")

    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are written only by cases.services.audit (audit_record).")

    def append_chained(self, events: list["AuditEvent"]) -> list["AuditEvent"]:
        """Insert new, already hash-chained events; only ``cases.services.audit`` calls this."""
        if any(not event._state.adding for event in events):
            raise AppendOnlyError("Only new audit events can be appended.")
        return super().bulk_create(events, batch_size=1000)

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")


AuditEventManager = models.Manager.from_queryset(AuditEventQuerySet)


class AuditEvent(models.Model):
    seq = models.PositiveBigIntegerField(unique=True, editable=False, help_text="Position in the chain, from 1.")
    occurred_at = models.DateTimeField(db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    actor_label = models.CharField(max_length=255, editable=False, help_text="Username at the time, or 'system'.")
    action = models.CharField(max_length=100, db_index=True, editable=False)
    # Filtered on through the ``(target_type, target_id, seq)`` index below, which begins with it.
    target_type = models.CharField(max_length=100, editable=False)
    # Likewise (and the admin's search on it is case-insensitive, which a plain index cannot serve).
    target_id = models.CharField(max_length=64, editable=False)
    target_label = models.CharField(max_length=500, blank=True, editable=False)
    before = models.JSONField(null=True, blank=True, editable=False)
    after = models.JSONField(null=True, blank=True, editable=False)
    reason = models.TextField(blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)
    key_id = models.CharField(
        max_length=32,
        default="legacy",
        editable=False,
        help_text="The HMAC key (AUDIT_HMAC_KEYS) that keyed this row's hash; 'legacy': plain SHA-256, before 0008.",
    )

    objects = AuditEventManager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["seq"]
        indexes = [models.Index(fields=["target_type", "target_id", "seq"])]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"#{self.seq} {self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_label}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only: an existing event cannot be saved again.")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: delete() is not allowed.")


class AuditChainHead(models.Model):
    """Exactly one row (pk=1): the last sequence number and hash. Locked by every append."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")
        default_permissions = ()
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="auditchainhead_single_row")]

    def __str__(self) -> str:
        return f"audit head #{self.last_seq}"
