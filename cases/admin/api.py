"""Integration API administration: tokens, webhook subscriptions, the delivery outbox (read-only)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from cases.models import ApiToken, DecisionChangeEvent, WebhookDelivery, WebhookSubscription
from cases.services.tokens import parse_scopes, token_create, token_revoke, token_update

from .site import ReadOnlyAdmin, ServiceFormAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceFormAdmin):
    list_display = ("name", "user", "key", "scopes_display", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("can_write", "revoked_at")
    search_fields = ("name", "key", "user__username")
    readonly_fields = ("key", "created_at", "last_used_at", "revoked_at")
    fields = ("user", "name", "description", "can_read", "can_write", "expires_at", *readonly_fields)
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scopes_display(self, obj):
        return ",".join(obj.scopes)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # a token's owner and scopes are fixed once issued; revoke and re-issue instead
            return (*self.readonly_fields, "user", "can_read", "can_write")
        return self.readonly_fields

    def save_through_service(self, request, form, formsets, change):
        obj = form.instance
        if change:
            changes = {name: form.cleaned_data[name] for name in ("name", "description", "expires_at")}
            return token_update(token=obj, actor=request.user, **changes)
        scopes = [s for s, on in (("read", obj.can_read), ("write", obj.can_write)) if on] or ["read"]
        parse_scopes(scopes)
        token, plaintext = token_create(
            user=obj.user,
            name=obj.name,
            scopes=scopes,
            expires_at=obj.expires_at,
            description=obj.description,
            actor=request.user,
        )
        obj.key = token.key
        messages.warning(request, format_html("New token (shown once, copy it now): <code>{}</code>", plaintext))
        return token

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            token_revoke(token=token, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ("event", "attempts", "last_status", "next_attempt_at", "delivered_at", "gave_up_at", "last_error")
    readonly_fields = fields
    ordering = ("-id",)
    max_num = 0
    show_change_link = True


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "is_active", "event_types", "outcomes", "customers_only", "pending")
    list_filter = ("is_active",)
    search_fields = ("name", "url")
    inlines = [DeliveryInline]

    @admin.display(description="pending deliveries")
    def pending(self, obj):
        return obj.deliveries.filter(delivered_at__isnull=True, gave_up_at__isnull=True).count()


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "subscription", "event", "status_display", "attempts", "last_status", "next_attempt_at")
    list_filter = ("subscription", "last_status")
    search_fields = ("event__entity_external_id", "last_error")
    list_select_related = ("subscription", "event")

    @admin.display(description="status")
    def status_display(self, obj):
        return obj.status


@admin.register(DecisionChangeEvent)
class DecisionChangeEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "entity_external_id", "previous_outcome", "outcome", "source", "occurred_at")
    list_filter = ("outcome", "source", "kind")
    search_fields = ("entity_external_id",)
    ordering = ("-seq",)
