from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cases"
    verbose_name = "Ownership screening"

    def ready(self) -> None:
        from . import checks, tasks  # noqa: F401  (deploy checks; each task module registers its job with cases.services.queue)
        from .receivers_ownership import connect as connect_ownership_receivers
        from .roles import post_migrate_roles_sync

        connect_ownership_receivers()  # ORM writes outside services -> durable re-screen requests

        post_migrate.connect(post_migrate_roles_sync, dispatch_uid="cases.roles_sync")
