"""Settings for the ownership-screening product.

Everything that differs between a laptop, CI and production is read from the
environment (12-factor), through django-environ so that types are explicit:
``DATABASE_URL`` selects the database (SQLite file by default, PostgreSQL with
``postgres://...``), ``SECRET_KEY``, ``DEBUG`` and ``ALLOWED_HOSTS`` are the
usual Django knobs. See docs/operations.md for the full list.
"""

import datetime
from pathlib import Path

import environ
from csp.constants import NONCE

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    LOG_LEVEL=(str, "INFO"),
    EVIDENCE_MAX_BYTES=(int, 10 * 1024 * 1024),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env("DEBUG")
# A missing SECRET_KEY is only tolerated in DEBUG (local runs and tests); production must set one.
SECRET_KEY = env("SECRET_KEY", default="insecure-development-key-change-me" if DEBUG else None)
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY is not set. On your own machine run commands with DEBUG=true "
        "(for example `DEBUG=true python manage.py setup_demo`, as `make run` does); "
        "in production set SECRET_KEY (and ALLOWED_HOSTS) in the environment, see docs/operations.md."
    )
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "cases.admin_site.WorkplaceAdminConfig",  # django.contrib.admin with the workplace's home page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "simple_history",
    "django_tasks",
    "django_tasks_db",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "cases",
]

MIDDLEWARE = [
    "compliance.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # English or Simplified Chinese, from the browser or the switcher
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into a 429 page
]

ROOT_URLCONF = "compliance.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "compliance.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while an import or re-screen writes; a busy
    # timeout turns short lock waits into waits instead of "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

# django-axes first: it refuses logins for a locked-out username+IP before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
# The workplace in English and Simplified Chinese (compliance teams in APAC). The project's own strings
# are in locale/ (compiled .mo committed); Django's admin ships its own zh_Hans catalogue.
LANGUAGES = [("en-gb", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env("STATICFILES_BACKEND", default="whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}
# Serve straight from the app directories when collectstatic has not run (development, tests).
WHITENOISE_USE_FINDERS = DEBUG
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6's default, opted into now
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "media/"
EVIDENCE_MAX_BYTES = env("EVIDENCE_MAX_BYTES")
# Case SLA: hours from opening to due_at, by priority (cases.models.casework.case_sla_hours).
CASE_SLA_HOURS = {"low": 240, "normal": 120, "high": 48, "critical": 24}

# The API's throttle counters live here. The default (local memory) keeps one budget per
# web process; with several processes or hosts set a shared cache, e.g.
# CACHE_URL=redis://127.0.0.1:6379/1, so a token's budget is one budget.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

REST_FRAMEWORK = {
    # The integration API (cases/api, docs/api.md).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cases.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "cases.api.permissions.TokenScope",
        "cases.api.permissions.ViewPermission",
        "cases.api.permissions.ActionPermission",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "cases.api.pagination.ApiCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["cases.api.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["cases.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env("API_THROTTLE_RATE", default="1200/minute"),
        "screening": env("API_SCREENING_THROTTLE_RATE", default="120/minute"),
    },
    "EXCEPTION_HANDLER": "cases.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ownership screening API",
    "DESCRIPTION": "Entities, owners and decisions for billing, sign-up and CRM systems. Guide: docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "OutcomeEnum": "cases.models.choices.Outcome",
        "CaseStatusEnum": "cases.models.casework.CaseStatus",
        "OverrideStatusEnum": "cases.models.casework.OverrideStatus",
        "ExemptionStatusEnum": "cases.models.casework.ExemptionStatus",
    },
}
# API tokens: secrets are stored as HMAC-SHA256(API_TOKEN_PEPPER, secret); rotating it invalidates every token.
API_TOKEN_PEPPER = env("API_TOKEN_PEPPER", default=SECRET_KEY)
# The audit chain (docs/security.md T14). Rows are HMAC-SHA256-keyed with AUDIT_HMAC_KEYS
# ("keyid:secret,keyid:secret", secrets of 32+ random characters); new rows use AUDIT_HMAC_KEY_ID
# (default: the last listed), old rows verify with the key id they store, so rotation is "append a
# key, switch the id". The chain head is anchored outside the database by Ed25519-signed checkpoint
# files in AUDIT_CHECKPOINT_DIR (write-once; mount it where the database's operators cannot write),
# signed with AUDIT_SIGNING_KEY_FILE (PEM private key, `manage.py audit_keygen`) and verified with
# AUDIT_VERIFY_KEY_FILES (PEM public keys; default: the signing key's own). With DEBUG and nothing
# set, a development key is derived from SECRET_KEY and a signing key is generated under var/.
AUDIT_HMAC_KEYS = env("AUDIT_HMAC_KEYS", default="")
AUDIT_HMAC_KEY_ID = env("AUDIT_HMAC_KEY_ID", default="")
AUDIT_CHECKPOINT_DIR = env("AUDIT_CHECKPOINT_DIR", default=str(BASE_DIR / "var" / "audit-checkpoints") if DEBUG else "")
AUDIT_SIGNING_KEY_FILE = env(
    "AUDIT_SIGNING_KEY_FILE", default=str(BASE_DIR / "var" / "audit-signing-key.pem") if DEBUG else ""
)
AUDIT_VERIFY_KEY_FILES = env.list("AUDIT_VERIFY_KEY_FILES", default=[])
AUDIT_CHECKPOINT_MINUTES = env.int("AUDIT_CHECKPOINT_MINUTES", default=10)
# How long an Idempotency-Key is remembered (a retry after that is a new request); purged hourly.
IDEMPOTENCY_KEY_TTL = datetime.timedelta(hours=env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24))
# Webhook outbox (cases/services/webhooks.py): exponential backoff base × 2^(n−1), capped; give up after N.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=10)
WEBHOOK_BACKOFF_BASE_SECONDS = env.int("WEBHOOK_BACKOFF_BASE_SECONDS", default=30)
WEBHOOK_BACKOFF_MAX_SECONDS = env.int("WEBHOOK_BACKOFF_MAX_SECONDS", default=6 * 3600)
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)

# Background work (Django's tasks API, backported by django-tasks). The database
# backend needs no broker: a single machine runs `manage.py run_worker` beside the
# web server. TASKS_BACKEND=rq (or the dotted path django_tasks_rq.RQBackend) puts the
# queues on Redis through RQ instead, at RQ_URL; `run_worker` then runs an RQ worker
# (docs/scaling.md). Either way the durable state stays in our tables.
TASK_QUEUES = ["default", "screening", "webhooks"]
TASK_BACKENDS = {"database": "django_tasks_db.DatabaseBackend", "rq": "django_tasks_rq.RQBackend"}
_tasks_backend = env("TASKS_BACKEND", default="database")
TASKS = {"default": {"BACKEND": TASK_BACKENDS.get(_tasks_backend, _tasks_backend), "QUEUES": TASK_QUEUES}}
# Queues of the RQ backend (read by django-rq only when it is selected). A job runs until its
# timeout, then RQ kills it: screening jobs drain for at most 5 minutes (cases/tasks/screening.py)
# but a portfolio run lasts as long as the portfolio needs, so that queue's timeout is a day.
RQ_URL = env("RQ_URL", default="redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    name: {"URL": RQ_URL, "DEFAULT_TIMEOUT": timeout}
    for name, timeout in (
        ("default", env.int("RQ_DEFAULT_TIMEOUT", default=3600)),
        ("screening", env.int("RQ_SCREENING_TIMEOUT", default=24 * 3600)),
        ("webhooks", env.int("RQ_DEFAULT_TIMEOUT", default=3600)),
    )
}
if TASKS["default"]["BACKEND"] == TASK_BACKENDS["rq"]:
    INSTALLED_APPS.insert(INSTALLED_APPS.index("django_tasks_db") + 1, "django_rq")
# Entities per chunk of a portfolio run, and how many workers share one run (cases/services/rescreen.py).
PORTFOLIO_CHUNK = env.int("PORTFOLIO_CHUNK", default=5000)
PORTFOLIO_WORKERS = env.int("PORTFOLIO_WORKERS", default=1)
# A one-worker portfolio run reads the whole graph as columns and decides it in one engine pass up to
# this many entities (1 M: about 1 GB; docs/scaling.md); above it, or with several workers, each
# chunk loads its own upstream closure. 0 always takes the chunked path.
PORTFOLIO_WHOLE_GRAPH_MAX = env.int("PORTFOLIO_WHOLE_GRAPH_MAX", default=2_000_000)
# Entities per chunk on that path: a chunk only stores what the one engine run decided (a first run's
# explanations of one chunk are held in memory together, about 5 KB each).
PORTFOLIO_WHOLE_GRAPH_CHUNK = env.int("PORTFOLIO_WHOLE_GRAPH_CHUNK", default=25_000)
# Database connections that read the whole graph side by side on one snapshot (``parallel_read``); 1 reads
# on the process's own connection only.
PORTFOLIO_READ_CONNECTIONS = env.int("PORTFOLIO_READ_CONNECTIONS", default=2)
# On that path, a run with at least this many decisions to explain forks an explainer process that prepares
# them while this one stores (``decision_prefetch``); 0 turns it off.
PORTFOLIO_EXPLAINER_MIN = env.int("PORTFOLIO_EXPLAINER_MIN", default=5000)

# Production hardening: on by default unless DEBUG, each overridable.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/"]  # load-balancer probes often speak plain HTTP to the app
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content security policy (django-csp): only our own origin, no inline script or style, no plugins,
# no framing. Exceptions and how each page was checked: docs/security.md "Content security policy".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # NONCE: the Swagger UI page's one <style>; the hash: simple-history's style="border-top: 0" attribute on
        # history pages ('unsafe-hashes' allows exactly the hashed attribute values, nothing else).
        "style-src": ["'self'", NONCE, "'unsafe-hashes'", "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='"],
        "img-src": ["'self'", "data:"],  # Swagger UI and the admin draw small data: SVG icons
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Admin login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for one username from
# one address, that pair is locked out for AXES_COOLOFF_MINUTES (HTTP 429); a success resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "compliance.middleware.client_ip"
AXES_ENABLE_ADMIN = True  # attempts and lockouts are visible (and can be cleared) in the admin
# How many reverse proxies in front add to X-Forwarded-For (0: use REMOTE_ADDR). Login throttling keys on it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Health: /health/ready/ answers 503 when ready tasks + pending re-screens exceed this.
HEALTH_MAX_BACKLOG = env.int("HEALTH_MAX_BACKLOG", default=10_000)

# Logs: JSON lines on stderr in production (stdout stays clean for command output such as
# `screen --json`) (LOG_FORMAT=json, the default unless DEBUG), one line per
# request from compliance.middleware with request_id, user, path, status and duration; secrets redacted.
LOG_FORMAT = env("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "compliance.logging.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "compliance.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL")},
    "loggers": {
        # The request middleware logs every request; Django's own request/server loggers would repeat it.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR" if not DEBUG else "INFO"},
        # django-axes announces itself at INFO in every process (also management commands, whose stdout is data).
        "axes.apps": {"level": "WARNING"},
    },
}
