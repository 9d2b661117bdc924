# No schema change: the explicit decision consequences and the one re-screen request row per
# transaction (issue 14) needed none. Kept so that the migration chain stays 0010 -> 0011 -> 0012.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cases", "0010_admin_services")]

    operations = []
