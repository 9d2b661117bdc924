"""Restricted-party lists, their members and identifiers, and name-screening matches.

The lists that matter for this mission are seeded empty (no members): their members are
loaded by ``manage.py import_restricted_list`` / ``import_ftm`` from the authority's or
OpenSanctions' published files, so the edition loaded is always visible.
"""

import django.db.models.deletion
from django.db import migrations, models

SEED_LISTS = [
    {
        "code": "us-dod-1260h",
        "name": "US DoD 1260H list (Chinese military companies)",
        "authority": "US Department of Defense",
        "kind": "military",
        "source_url": "https://www.opensanctions.org/datasets/us_dod_chinese_milcorps/",
        "ftm_datasets": ["us_dod_chinese_milcorps"],
    },
    {
        "code": "us-bis-entity-list",
        "name": "US Commerce Entity List",
        "authority": "US Department of Commerce, Bureau of Industry and Security",
        "kind": "export_control",
        "source_url": "https://www.bis.gov/entity-list",
        "ftm_datasets": [],
    },
    {
        "code": "us-ofac-sdn",
        "name": "OFAC Specially Designated Nationals (SDN)",
        "authority": "US Treasury, Office of Foreign Assets Control",
        "kind": "sanctions",
        "source_url": "https://www.opensanctions.org/datasets/us_ofac_sdn/",
        "ftm_datasets": ["us_ofac_sdn"],
    },
    {
        "code": "us-ofac-ns-cmic",
        "name": "OFAC Non-SDN Chinese Military-Industrial Complex Companies (NS-CMIC)",
        "authority": "US Treasury, Office of Foreign Assets Control",
        "kind": "investment_ban",
        "source_url": "https://ofac.treasury.gov/consolidated-sanctions-list-non-sdn-lists",
        "ftm_datasets": [],
    },
]


def seed_lists(apps, schema_editor):
    restricted_list = apps.get_model("cases", "RestrictedList")
    for values in SEED_LISTS:
        restricted_list.objects.update_or_create(code=values["code"], defaults=values)


def unseed_lists(apps, schema_editor):
    apps.get_model("cases", "RestrictedList").objects.filter(code__in=[v["code"] for v in SEED_LISTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0008_audit_keyed_chain")]

    operations = [
        migrations.CreateModel(
            name="RestrictedList",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.SlugField(help_text="Stable key, e.g. us-dod-1260h.", max_length=60, unique=True)),
                ("name", models.CharField(max_length=200)),
                ("authority", models.CharField(help_text="Who publishes the list.", max_length=200)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("military", "Military companies (US DoD 1260H)"),
                            ("export_control", "Export control (Commerce Entity List)"),
                            ("sanctions", "Sanctions (OFAC SDN)"),
                            ("investment_ban", "Investment ban (OFAC NS-CMIC)"),
                            ("other", "Other"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "version",
                    models.CharField(blank=True, help_text="Version or edition of the loaded file.", max_length=100),
                ),
                ("published_on", models.DateField(blank=True, help_text="Date of the loaded edition.", null=True)),
                ("source_url", models.URLField(blank=True, max_length=500)),
                (
                    "ftm_datasets",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="OpenSanctions dataset names whose entities are members of this list.",
                    ),
                ),
                (
                    "is_active",
                    models.BooleanField(default=True, help_text="Members of an inactive list do not restrict."),
                ),
                ("loaded_from", models.CharField(blank=True, help_text="File of the last load.", max_length=1000)),
                ("loaded_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="RestrictedListMember",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "record_id",
                    models.CharField(help_text="The member's id in its source (FtM id or CSV row id).", max_length=255),
                ),
                ("name", models.CharField(db_index=True, max_length=500)),
                ("aliases", models.JSONField(blank=True, default=list)),
                ("countries", models.JSONField(blank=True, default=list, help_text="Country codes the list gives.")),
                ("listed_on", models.DateField(blank=True, null=True)),
                (
                    "source",
                    models.JSONField(blank=True, default=dict, help_text="Provenance: source, file, date, record id."),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "restricted_list",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="members", to="cases.restrictedlist"
                    ),
                ),
            ],
            options={
                "ordering": ["restricted_list", "name"],
            },
        ),
        migrations.CreateModel(
            name="RestrictedListIdentifier",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "scheme",
                    models.CharField(help_text="XI-LEI, FTM, or a registry scheme such as GB-COH", max_length=100),
                ),
                ("value", models.CharField(max_length=255)),
                (
                    "member",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identifiers",
                        to="cases.restrictedlistmember",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="NameMatch",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("candidate_name", models.CharField(max_length=500)),
                (
                    "matched_name",
                    models.CharField(help_text="The candidate's name or alias that scored.", max_length=500),
                ),
                ("score", models.DecimalField(decimal_places=2, help_text="0–100, after normalisation.", max_digits=5)),
                ("country_matches", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "candidate_entity",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="cases.entity",
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="cases.case",
                    ),
                ),
                (
                    "entity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="name_matches", to="cases.entity"
                    ),
                ),
                (
                    "candidate_member",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="cases.restrictedlistmember",
                    ),
                ),
            ],
            options={
                "ordering": ["entity", "-score"],
            },
        ),
        migrations.AddConstraint(
            model_name="restrictedlistmember",
            constraint=models.UniqueConstraint(
                fields=("restricted_list", "record_id"), name="list_member_unique_record"
            ),
        ),
        migrations.AddConstraint(
            model_name="restrictedlistmember",
            constraint=models.CheckConstraint(
                condition=models.Q(("record_id", ""), _negated=True), name="list_member_record_id_not_blank"
            ),
        ),
        migrations.AddIndex(
            model_name="restrictedlistidentifier",
            index=models.Index(fields=["scheme", "value"], name="cases_restr_scheme_63b266_idx"),
        ),
        migrations.AddConstraint(
            model_name="restrictedlistidentifier",
            constraint=models.UniqueConstraint(
                fields=("member", "scheme", "value"), name="list_identifier_unique_per_member"
            ),
        ),
        migrations.AddConstraint(
            model_name="namematch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("candidate_entity__isnull", True), ("candidate_member__isnull", False)),
                    models.Q(("candidate_entity__isnull", False), ("candidate_member__isnull", True)),
                    _connector="OR",
                ),
                name="name_match_one_candidate",
            ),
        ),
        migrations.AddConstraint(
            model_name="namematch",
            constraint=models.CheckConstraint(
                condition=models.Q(("score__gte", 0), ("score__lte", 100)), name="name_match_score_0_100"
            ),
        ),
        migrations.RunPython(seed_lists, unseed_lists),
    ]
