"""Model Hub settings: the only module that reads the environment.

With no environment at all the hub runs on its embedded default: a SQLite file, a
filesystem Celery broker, a local-memory cache, and a development secret and encryption
key generated once into var/local-secrets.env (git-ignored). Production sets
DATABASE_URL, REDIS_URL, SECRET_KEY, HUB_ENCRYPTION_KEYS and ALLOWED_HOSTS.
"""

import base64
import os
import secrets
from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HUB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()


def _local_secrets() -> dict[str, str]:
    """Development secrets, generated once so sessions and encrypted keys survive restarts."""
    path = VAR_DIR / "local-secrets.env"
    if not path.exists():
        fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        path.write_text(
            f"SECRET_KEY=dev-{secrets.token_urlsafe(48)}\nHUB_ENCRYPTION_KEYS={fernet_key}\n"
        )
        path.chmod(0o600)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


# A production setup (DEBUG off) must bring its own secrets, which the hub.E001 and providers.E001 checks
# enforce. The generated local secrets serve the embedded default only.
# Off unless set: `make run` and `make test` set DEBUG=true for the embedded default.
DEBUG = env.bool("DEBUG", default=False)
_local = _local_secrets() if DEBUG else {}
SECRET_KEY = env.str("SECRET_KEY", default=_local.get("SECRET_KEY", ""))
HUB_ENCRYPTION_KEYS = env.list(
    "HUB_ENCRYPTION_KEYS",
    default=[_local["HUB_ENCRYPTION_KEYS"]] if _local else [],
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "django_filters",
    "rules.apps.AutodiscoverRulesConfig",
    "axes",
    "core",
    "hub",
    "providers",
    "registry",
    "groups",
    "recipes",
    "inference",
    "training",
    "monitoring",
    "rollouts",
    "governance",
]

MIDDLEWARE = [
    # POST .../predict with an API key: only the middleware it needs (inference/middleware.py).
    "inference.middleware.PredictFastPath",
    "django.middleware.security.SecurityMiddleware",
    # The strict Content Security Policy below (SECURE_CSP) on every response.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "hub.middleware.LoginRequiredMiddleware",
    "core.middleware.QueryParameterCheck",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Login throttling: refuses a username/IP pair after too many failed logins.
    "axes.backends.AxesStandaloneBackend",
    # Object permissions (team ownership) through django-rules; core/permissions.py.
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"
ASGI_APPLICATION = "hub.asgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'hub.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE transactions make
    # concurrent writers queue on the busy timeout instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file (not :memory:) so a Celery worker in another process sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-hub.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    # Off by default: a health check is a SELECT 1 on every request that reuses a connection,
    # a round trip the predict endpoint cannot spare.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
    # Behind PgBouncer in transaction pooling: .iterator() must not open server-side cursors.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DB_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "hub.cache.HubRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="hub"),
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest training job, so acks_late never redelivers a live task.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600),
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    BROKER_DIR = VAR_DIR / "broker"
    for sub in ("queue", "processed"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"


# --- Auth, i18n, static ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    # Bundles built from node_modules by `make setup` (npm run build): git-ignored.
    BASE_DIR / "build" / "static",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env.str("HUB_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# --- Security (production) ------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Scripts and styles only from our own static files: templates carry no inline script,
# handler, <style> or style="" (behaviour in hub/static/hub/ui.js, looks in hub.css), htmx
# runs with allowEval off, and the API docs load their init script from a URL.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    # The nonce is sent only by a page that uses it (Django's lazy nonce, given to the
    # template by its view, not by a context processor: django-htmx's script tag would use
    # it on every page): CodeMirror's <style> elements in the recipe editor.
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Authorization: Bearer <key>`: what a key may do is its scopes (core/permissions.py).
        # First, so an anonymous request gets 401 with `WWW-Authenticate: Bearer`.
        "groups.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every API view names the permission each method needs (`perms`); core/permissions.py.
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.HubPermission"],
    # The API reads JSON; the views that take a file say so (multipart) in their parser_classes,
    # so the schema lists exactly the bodies each operation accepts.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.PrincipalRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "principal": env.str("HUB_THROTTLE_RATE", default="3000/min"),
        # The recipe assistant: each message costs a provider call (recipes/assistant.py).
        "recipe_assistant": env.str("HUB_ASSISTANT_RATE", default="20/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "hub.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Model Hub API",
    "DESCRIPTION": "Registry, model groups with champion/challenger routing, inference logs and training.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "VersionSourceEnum": "registry.models.VersionSource",
        "DatasetSourceEnum": "training.models.DatasetSource",
        # One name per choice set, so a generated client gets one enum type for each.
        "VersionStatusEnum": "registry.models.VersionStatus",
        # Training jobs and batch jobs share their statuses: one enum.
        "JobStatusEnum": "training.models.JobStatus",
        "AlertStatusEnum": "monitoring.models.AlertStatus",
        "DeliveryStatusEnum": "monitoring.models.DeliveryStatus",
        "PendingStatusEnum": "groups.models.PendingStatus",
        "BatchFormatEnum": "inference.models.BatchFormat",
        "RolloutStateEnum": "rollouts.models.RolloutState",
        "RecipeLevelEnum": "recipes.models.Level",
        "ChildRecipeLevelEnum": [("industry", "Industry"), ("client", "Client")],
    },
}

# --- Access control -----------------------------------------------------------------------
# Viewers read every team's models and groups unless this limits reads to their own teams.
HUB_TEAM_READ_ISOLATION = env.bool("HUB_TEAM_READ_ISOLATION", default=False)

# --- Governance (model inventory, evidence, validation reports) ---------------------------
# The risk tiers a model may be given, most material first.
HUB_RISK_TIERS = env.list("HUB_RISK_TIERS", default=["1", "2", "3"])
# What groups' audit records as a change's evidence (the comparison as it stands): groups
# cannot import the layers that compute it, so it calls this dotted path; "" records none.
HUB_EVIDENCE_PROVIDER = env.str(
    "HUB_EVIDENCE_PROVIDER", default="governance.evidence.group_evidence"
)
# A validation report for a version serving more live rows than this is built on Celery.
HUB_REPORT_INLINE_MAX_ROWS = env.int("HUB_REPORT_INLINE_MAX_ROWS", default=200_000)
# django-axes: this many failed logins for a username from one address locks it out for
# AXES_COOLOFF_TIME hours (the login page says so; an Admin can unlock in the admin).
AXES_FAILURE_LIMIT = env.int("HUB_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("HUB_LOGIN_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# --- Providers (timeouts for the SDK clients built in providers/clients.py) -------------
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=30.0)
PROVIDER_MAX_RETRIES = env.int("PROVIDER_MAX_RETRIES", default=2)

# The recipe assistant: the longest message a user may send, the longest answer read from
# the model, how many earlier messages it is shown, and how many proposals one answer holds.
ASSISTANT_MAX_MESSAGE_CHARS = env.int("HUB_ASSISTANT_MAX_MESSAGE_CHARS", default=4000)
ASSISTANT_MAX_ANSWER_CHARS = env.int("HUB_ASSISTANT_MAX_ANSWER_CHARS", default=20000)
ASSISTANT_HISTORY_MESSAGES = env.int("HUB_ASSISTANT_HISTORY_MESSAGES", default=20)
ASSISTANT_MAX_PROPOSALS = env.int("HUB_ASSISTANT_MAX_PROPOSALS", default=5)

# --- Serving ----------------------------------------------------------------------------
# Force a group to one model version for testing: "group-slug=version_id,other=12".
HUB_ROUTING_OVERRIDES = dict(
    item.split("=", 1) for item in env.list("HUB_ROUTING_OVERRIDES", default=[]) if "=" in item
)
HUB_PREDICT_BATCH_MAX = env.int("HUB_PREDICT_BATCH_MAX", default=1000)
# Versions backed by an external LLM cost a provider call per instance: a lower cap.
HUB_PREDICT_BATCH_MAX_EXTERNAL = env.int("HUB_PREDICT_BATCH_MAX_EXTERNAL", default=20)
# Group commit (inference/group_commit.py, PostgreSQL): a process's requests in flight are
# predicted together (one leads the batch: those queued while the last one committed, plus
# up to this window) and their rows committed in one INSERT (shadows' rows included, before
# the answers); off, each request commits its own rows (as on SQLite).
HUB_GROUP_COMMIT = env.bool("HUB_GROUP_COMMIT", default=True)
HUB_GROUP_COMMIT_WINDOW_MS = env.float("HUB_GROUP_COMMIT_WINDOW_MS", default=0.0)
HUB_GROUP_COMMIT_MAX_ROWS = env.int("HUB_GROUP_COMMIT_MAX_ROWS", default=256)
# Partitioned logs (inference/partitions.py, PostgreSQL): months created ahead by beat.
HUB_LOG_PARTITIONS_AHEAD = env.int("HUB_LOG_PARTITIONS_AHEAD", default=2)
# Batch prediction (inference/batch/): rows per chunk, how many chunks of one job run at
# once on the worker pool, and the largest file accepted.
HUB_BATCH_CHUNK_ROWS = env.int("HUB_BATCH_CHUNK_ROWS", default=20000)
HUB_BATCH_PARALLEL_CHUNKS = env.int("HUB_BATCH_PARALLEL_CHUNKS", default=2)
HUB_BATCH_MAX_BYTES = env.int("HUB_BATCH_MAX_BYTES", default=2 * 1024 * 1024 * 1024)
# A job with no chunk committed for this long is queued again by beat (a worker died and
# the broker, e.g. the embedded filesystem one, does not redeliver its message).
HUB_BATCH_RESUME_AFTER_SECONDS = env.int("HUB_BATCH_RESUME_AFTER_SECONDS", default=600)

# --- Registry uploads (registry/artifacts.py, registry/importing/) ----------------------
# A skops artifact's size, its unpacked size and entries, and its zip compression ratio are
# checked before skops reads it (a zip bomb is refused); metadata/import documents too.
HUB_ARTIFACT_MAX_BYTES = env.int("HUB_ARTIFACT_MAX_BYTES", default=50 * 1024 * 1024)
HUB_ARTIFACT_MAX_UNCOMPRESSED_BYTES = env.int(
    "HUB_ARTIFACT_MAX_UNCOMPRESSED_BYTES", default=512 * 1024 * 1024
)
HUB_ARTIFACT_MAX_RATIO = env.int("HUB_ARTIFACT_MAX_RATIO", default=200)
HUB_ARTIFACT_MAX_ENTRIES = env.int("HUB_ARTIFACT_MAX_ENTRIES", default=10_000)
HUB_METADATA_MAX_BYTES = env.int("HUB_METADATA_MAX_BYTES", default=5 * 1024 * 1024)

# --- Training ---------------------------------------------------------------------------
TRAINING_HEARTBEAT_TIMEOUT_SECONDS = env.int("TRAINING_HEARTBEAT_TIMEOUT_SECONDS", default=300)
TRAINING_UPLOAD_MAX_BYTES = env.int("TRAINING_UPLOAD_MAX_BYTES", default=50 * 1024 * 1024)
TRAINING_UPLOAD_MAX_ROWS = env.int("TRAINING_UPLOAD_MAX_ROWS", default=1_000_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes logs every login at INFO; failures and lockouts are warnings.
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Monitoring (monitoring/) -----------------------------------------------------------
# A reference keeps a seeded sample of this many rows (plus exact summaries of all rows).
HUB_MONITORING_REFERENCE_ROWS = env.int("HUB_MONITORING_REFERENCE_ROWS", default=10_000)
HUB_MONITORING_SEED = env.int("HUB_MONITORING_SEED", default=2026)
HUB_MONITORING_REFERENCE_MAX_BYTES = env.int(
    "HUB_MONITORING_REFERENCE_MAX_BYTES", default=50 * 1024 * 1024
)
HUB_MONITORING_REFERENCE_MAX_ROWS = env.int("HUB_MONITORING_REFERENCE_MAX_ROWS", default=1_000_000)
# A snapshot reads at most this many rows of a member's window (a systematic sample).
HUB_MONITORING_SAMPLE_ROWS = env.int("HUB_MONITORING_SAMPLE_ROWS", default=5_000)
HUB_MONITORING_LABELLED_ROWS = env.int("HUB_MONITORING_LABELLED_ROWS", default=20_000)
# Alerts are e-mailed to the group's team and to these addresses (Django's mail backend).
HUB_MONITORING_ALERT_EMAILS = env.list("HUB_MONITORING_ALERT_EMAILS", default=[])
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="model-hub@localhost")
# Webhooks to private or loopback addresses are refused: a webhook is a request the hub
# makes for a user, and must not reach the hub's own network (SSRF). Tests and labs only.
HUB_WEBHOOK_ALLOW_PRIVATE = env.bool("HUB_WEBHOOK_ALLOW_PRIVATE", default=False)
