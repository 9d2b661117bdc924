"""Seed ISO 3166 jurisdictions and the default screening policy (spec section 2)."""

from django.db import migrations

DEFAULT_RESTRICTED = ("CN", "HK", "MO", "RU", "BY", "IR", "KP", "CU", "SY")


def seed(apps, schema_editor):
    import pycountry

    Jurisdiction = apps.get_model("cases", "Jurisdiction")
    ScreeningPolicy = apps.get_model("cases", "ScreeningPolicy")
    rows = [Jurisdiction(code=c.alpha_2, name=c.name) for c in pycountry.countries]
    rows += [Jurisdiction(code=s.code.upper(), name=s.name) for s in pycountry.subdivisions]
    Jurisdiction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    if not ScreeningPolicy.objects.exists():
        policy = ScreeningPolicy.objects.create(
            version=1, is_active=True, notes="Default policy from the screening specification."
        )
        policy.restricted_jurisdictions.set(DEFAULT_RESTRICTED)


def unseed(apps, schema_editor):
    apps.get_model("cases", "ScreeningPolicy").objects.all().delete()
    apps.get_model("cases", "Jurisdiction").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
