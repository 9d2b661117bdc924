"""The safety net: model receivers that record a re-screen for ORM writes no service made.

Services ask for re-screening explicitly (``rescreen.rescreen_changed``); these
receivers catch what bypasses them — the shell, a data migration, a plain
ModelAdmin: ``post_save``/``post_delete`` of entities, persons, relationships,
interests, and the activation of a screening policy. Both add their seeds to the
same one request row of the transaction (``rescreen_requests``), so a service
write they also see is recorded once, and the seeds a service re-decides inline
leave that row again: a write triggers one re-screen, never two. What they cannot
see: ``QuerySet.update()``, raw SQL and the BODS importer's bulk writes — the
importer re-screens what it touched itself (``screen_after_import``).

A relationship or interest moved to another subject/relationship affects the old
subject too: ``pre_save`` remembers the previous subject.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from cases.models import Entity, Interest, Person, Relationship, ScreeningPolicy
from cases.services.rescreen_requests import rescreen_request as _request


def on_entity_saved(sender, instance: Entity, raw=False, **kwargs) -> None:
    _request(entity_ids=[instance.pk])


def on_person_saved(sender, instance: Person, raw=False, **kwargs) -> None:
    _request(person_ids=[instance.pk])


def _previous_subject(instance) -> int | None:
    return getattr(instance, "_rescreen_previous_subject", None)


def on_relationship_pre_save(sender, instance: Relationship, raw=False, **kwargs) -> None:
    if instance.pk is None:
        return
    instance._rescreen_previous_subject = (
        Relationship.objects.filter(pk=instance.pk).values_list("subject_id", flat=True).first()
    )


def on_relationship_changed(sender, instance: Relationship, **kwargs) -> None:
    _request(entity_ids=[instance.subject_id, _previous_subject(instance)])


def on_interest_pre_save(sender, instance: Interest, raw=False, **kwargs) -> None:
    if instance.pk is None:
        return
    instance._rescreen_previous_subject = (
        Interest.objects.filter(pk=instance.pk).values_list("relationship__subject_id", flat=True).first()
    )


def on_interest_changed(sender, instance: Interest, **kwargs) -> None:
    relationship = Interest.relationship.field.get_cached_value(instance, None)
    if relationship is not None and relationship.pk == instance.relationship_id:
        subject_id = relationship.subject_id
    else:
        subject_id = (
            Relationship.objects.filter(pk=instance.relationship_id).values_list("subject_id", flat=True).first()
        )
    _request(entity_ids=[subject_id, _previous_subject(instance)])


def on_policy_saved(sender, instance: ScreeningPolicy, **kwargs) -> None:
    if instance.is_active:
        _request(all_entities=True, trigger="policy_change", actor=instance.created_by)


def on_policy_jurisdictions_changed(sender, instance, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, ScreeningPolicy):
        on_policy_saved(ScreeningPolicy, instance)


def connect() -> None:
    uid = "cases.receivers_ownership."
    post_save.connect(on_entity_saved, sender=Entity, dispatch_uid=uid + "entity")
    post_save.connect(on_person_saved, sender=Person, dispatch_uid=uid + "person")
    pre_save.connect(on_relationship_pre_save, sender=Relationship, dispatch_uid=uid + "relationship_pre")
    post_save.connect(on_relationship_changed, sender=Relationship, dispatch_uid=uid + "relationship_saved")
    post_delete.connect(on_relationship_changed, sender=Relationship, dispatch_uid=uid + "relationship_deleted")
    pre_save.connect(on_interest_pre_save, sender=Interest, dispatch_uid=uid + "interest_pre")
    post_save.connect(on_interest_changed, sender=Interest, dispatch_uid=uid + "interest_saved")
    post_delete.connect(on_interest_changed, sender=Interest, dispatch_uid=uid + "interest_deleted")
    post_save.connect(on_policy_saved, sender=ScreeningPolicy, dispatch_uid=uid + "policy")
    m2m_changed.connect(
        on_policy_jurisdictions_changed,
        sender=ScreeningPolicy.restricted_jurisdictions.through,
        dispatch_uid=uid + "policy_jurisdictions",
    )
