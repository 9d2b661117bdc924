"""``manage.py run_worker``: the background worker plus the scheduler, in one process.

The worker is the configured task backend's own: django-tasks-db's ``db_worker``
loop by default, or django-rq's ``rqworker`` (with RQ's scheduler, which releases
tasks enqueued with ``run_after``) when ``TASKS_BACKEND=rq``. A daemon thread calls
``cases.tasks.periodic.scheduler_tick`` every ``--tick`` seconds to enqueue due
scheduled jobs and sweep pending re-screen requests. Several ``run_worker``
processes may run at once: tasks are claimed with row locks (database) or popped
from Redis lists (RQ), and each scheduled run is claimed by one conditional UPDATE.
``--no-scheduler`` runs a plain worker. SIGTERM/SIGINT finish the current task, then exit.
"""

import logging
import threading

from django.conf import settings
from django.core.management import BaseCommand, call_command
from django.db import close_old_connections, connections

from cases.tasks.periodic import TICK_SECONDS, scheduler_tick

logger = logging.getLogger("cases.scheduler")


def scheduler_loop(stop: threading.Event, tick: float) -> None:
    while not stop.is_set():
        try:
            close_old_connections()
            enqueued = scheduler_tick()
            if enqueued:
                logger.info("Scheduler enqueued: %s", ", ".join(enqueued))
        except Exception:
            logger.exception("Scheduler tick failed; trying again in %s s", tick)
        finally:
            connections.close_all()
        stop.wait(tick)


class Command(BaseCommand):
    help = "Run a background worker (all queues) and the periodic-job scheduler."

    def add_arguments(self, parser):
        parser.add_argument("--queue-name", default="*", help="Queues to process, comma-separated ('*' = all).")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between polls when idle (database backend)."
        )
        parser.add_argument("--tick", type=float, default=TICK_SECONDS, help="Seconds between scheduler ticks.")
        parser.add_argument("--no-scheduler", action="store_true", help="Do not run the scheduler thread.")
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit.")

    def handle(self, *args, queue_name, interval, tick, no_scheduler, batch, **options):
        stop = threading.Event()
        if not no_scheduler:
            threading.Thread(target=scheduler_loop, args=(stop, tick), name="scheduler", daemon=True).start()
        try:
            if uses_rq():
                queues = settings.TASK_QUEUES if queue_name == "*" else queue_name.split(",")
                call_command(
                    "rqworker",
                    *queues,
                    job_class="django_tasks_rq.Job",
                    burst=batch,
                    with_scheduler=True,
                    verbosity=options["verbosity"],
                )
            else:
                worker_options = {"queue_name": queue_name, "interval": interval, "reload": False, "batch": batch}
                call_command("db_worker", verbosity=options["verbosity"], **worker_options)
        finally:
            stop.set()


def uses_rq() -> bool:
    return settings.TASKS["default"]["BACKEND"] == settings.TASK_BACKENDS["rq"]
