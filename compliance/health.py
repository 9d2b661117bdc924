"""``/health/`` (liveness) and ``/health/ready/`` (readiness): JSON, no authentication, no secrets.

Liveness says only that the process answers (no database access, so a database outage does not
make an orchestrator restart every web process). Readiness checks the database with one query and
reports the background backlog: ready tasks in django-tasks' database queue (or the RQ queues in
Redis with ``TASKS_BACKEND=rq``) and pending re-screen requests. It answers 503 when the database
(or Redis) is unreachable or the backlog exceeds ``HEALTH_MAX_BACKLOG`` (then the workers are down
or far behind and decisions are going stale).
"""

import datetime
import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def live(request):
    return JsonResponse({"status": "ok"})


def _backlog() -> dict:
    from cases.models import RescreenRequest

    count, oldest = _rq_ready() if _uses_rq() else _database_ready()
    return {
        "tasks_ready": count,
        "oldest_task_age_seconds": round((timezone.now() - oldest).total_seconds()) if oldest else None,
        "rescreen_pending": RescreenRequest.objects.count(),
    }


def _uses_rq() -> bool:
    return settings.TASKS["default"]["BACKEND"] == settings.TASK_BACKENDS["rq"]


def _database_ready() -> tuple[int, datetime.datetime | None]:
    from django_tasks_db.models import DBTaskResult

    ready = DBTaskResult.objects.ready()
    return ready.count(), ready.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()


def _rq_ready() -> tuple[int, datetime.datetime | None]:
    """Jobs waiting in the RQ queues (Redis down raises: re-screening has stopped, so not ready)."""
    import django_rq

    count, oldest = 0, None
    for name in settings.TASK_QUEUES:
        queue = django_rq.get_queue(name)
        count += queue.count
        for job in queue.get_jobs(0, 1):  # the head of the queue is its oldest job
            enqueued = job.enqueued_at
            if enqueued is not None and enqueued.tzinfo is None:
                enqueued = enqueued.replace(tzinfo=datetime.UTC)
            if enqueued is not None and (oldest is None or enqueued < oldest):
                oldest = enqueued
    return count, oldest


@never_cache
@require_GET
def ready(request):
    checks: dict = {}
    ok = True
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:  # any driver error means not ready; the class name only (no DSN, no host)
        checks["database"] = {"status": "error", "error": type(exc).__name__}
        return JsonResponse({"status": "error", "checks": checks}, status=503)
    try:
        backlog = _backlog()
    except Exception as exc:  # tables missing (not migrated) or similar
        checks["backlog"] = {"status": "error", "error": type(exc).__name__}
        return JsonResponse({"status": "error", "checks": checks}, status=503)
    limit = int(getattr(settings, "HEALTH_MAX_BACKLOG", 10_000))
    behind = backlog["tasks_ready"] + backlog["rescreen_pending"] > limit
    ok = not behind
    checks["backlog"] = {"status": "error" if behind else "ok", "limit": limit, **backlog}
    return JsonResponse({"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503)
