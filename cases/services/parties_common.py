"""Helpers shared by the entity, person and relationship services (not a public API)."""

from django.core.exceptions import ValidationError

from cases.models import Jurisdiction
from cases.models.jurisdictions import validate_jurisdiction_code


def jurisdiction_for(code: str | None, *, field: str) -> Jurisdiction | None:
    """The Jurisdiction row for an ISO 3166-1/-2 code, created if valid but missing (as imports do)."""
    if not code:
        return None
    code = code.strip().upper()
    try:
        validate_jurisdiction_code(code)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc
    found = Jurisdiction.objects.filter(code=code).first()
    if found is not None:
        return found
    import pycountry

    entry = pycountry.subdivisions.get(code=code) if "-" in code else pycountry.countries.get(alpha_2=code)
    jurisdiction = Jurisdiction(code=code, name=entry.name)
    jurisdiction.full_clean()
    jurisdiction.save()
    return jurisdiction


def country_codes(codes, *, field: str) -> list[str]:
    """Validated, upper-cased ISO country codes (for nationalities, residences, business addresses)."""
    result = []
    for code in codes or []:
        code = str(code).strip().upper()
        try:
            validate_jurisdiction_code(code)
        except ValidationError as exc:
            raise ValidationError({field: exc.messages}) from exc
        result.append(code)
    return result
