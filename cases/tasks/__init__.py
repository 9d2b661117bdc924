"""Background tasks (Django's tasks API via django-tasks; the database backend by default).

The database backend is Beta and never retries a failed task, so every task here
is idempotent and safe to run twice, keeps its durable state in our own tables
(``RescreenRequest``, ``ScreenRun``, ``ScheduledJob``) and retries itself with a
back-off (``run_after``). Modules: ``screening`` (re-screening), ``periodic``
(scheduled jobs and the scheduler), ``webhooks`` (the API's webhook delivery).
"""

from . import periodic, screening, webhooks  # noqa: F401, E402  (registering with the queue port is importing)
