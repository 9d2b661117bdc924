# Placeholder owned by one line of work; its operations are filled in by that work.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cases", "0009_restricted_lists")]

    operations = []
