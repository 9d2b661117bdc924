"""Leave room in each page of ``cases_currentdecision`` (PostgreSQL ``fillfactor``).

Every daily portfolio run moves the screening date of every current decision, unchanged ones too.
In a full page PostgreSQL writes the new row version to another page and updates all four
indexes for it; with room left in the page, and no indexed column changed (``screened_at`` and
``as_of`` are not indexed), the update is a heap-only tuple: no index is touched, and the old
version is pruned in place. At 1 M entities that halves the daily run (docs/performance.md).

Rows stored before this migration move to pages with room at their next update, so the effect
arrives with the first run after it; ``VACUUM FULL cases_currentdecision`` applies it at once.
SQLite updates in place and has no such setting.
"""

from django.db import migrations

FILLFACTOR = 50


def leave_room(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE cases_currentdecision SET (fillfactor = {FILLFACTOR})")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE cases_currentdecision RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("cases", "0014_entity_import_speed")]

    operations = [migrations.RunPython(leave_room, fill_pages, elidable=False)]
