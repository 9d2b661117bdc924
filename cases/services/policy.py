"""Publishing screening-policy versions.

A version is immutable once published, because decisions cite it; a change is
a new version that becomes the active one in the same transaction.
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import Max

from cases.models import Jurisdiction, ScreeningMethod, ScreeningPolicy
from cases.roles import require_perm

from .audit import audit_record


def policy_get_active() -> ScreeningPolicy:
    return ScreeningPolicy.objects.prefetch_related("restricted_jurisdictions").get(is_active=True)


@transaction.atomic
def policy_publish(
    *,
    user,
    restricted_codes: list[str] | frozenset[str],
    threshold: Decimal = Decimal("50"),
    threshold_inclusive: bool = False,
    count_nationality: bool = True,
    count_residence: bool = True,
    count_tax_residence: bool = True,
    method: str = ScreeningMethod.STRICTEST,
    notes: str = "",
) -> ScreeningPolicy:
    """Create the next version, make it the only active one, and return it.

    ``user`` None is the system (migrations, setup); a user needs ``cases.add_screeningpolicy``.
    The publication is written to the audit trail.
    """
    if user is not None:
        require_perm(user, "add_screeningpolicy", "publish screening policies")
    codes = sorted({code.strip().upper() for code in restricted_codes if code.strip()})
    known = set(Jurisdiction.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = [code for code in codes if code not in known]
    if unknown:
        from django.core.exceptions import ValidationError

        raise ValidationError({"restricted_jurisdictions": f"Unknown jurisdiction codes: {', '.join(unknown)}"})
    # Lock the current active row so two publishers cannot both think they are next.
    list(ScreeningPolicy.objects.select_for_update().filter(is_active=True))
    next_version = (ScreeningPolicy.objects.aggregate(v=Max("version"))["v"] or 0) + 1
    ScreeningPolicy.objects.filter(is_active=True).update(is_active=False)
    policy = ScreeningPolicy(
        version=next_version,
        is_active=True,
        threshold=threshold,
        threshold_inclusive=threshold_inclusive,
        count_nationality=count_nationality,
        count_residence=count_residence,
        count_tax_residence=count_tax_residence,
        method=method,
        notes=notes,
        created_by=user,
    )
    policy.full_clean()
    policy.save()
    policy.restricted_jurisdictions.set(codes)
    audit_record(
        actor=user,
        action="policy.published",
        target=policy,
        after={
            "version": policy.version,
            "restricted_jurisdictions": codes,
            "threshold": str(policy.threshold),
            "threshold_inclusive": policy.threshold_inclusive,
            "count_nationality": policy.count_nationality,
            "count_residence": policy.count_residence,
            "count_tax_residence": policy.count_tax_residence,
            "method": policy.method,
        },
        reason=notes,
    )
    return policy
