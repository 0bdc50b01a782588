"""Settings for Omnichannel, read from the environment (.env.example lists every variable).

OMNICHANNEL_ENV picks the defaults: "local" (the embedded default: SQLite, Celery's filesystem
broker, DEBUG on) or "production" (no defaults for secrets, DEBUG refused, HTTPS assumed).
"""

import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from omnichannel.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("OMNICHANNEL_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_str("OMNICHANNEL_ENV", "local")
if ENVIRONMENT not in ("local", "production"):
    raise ImproperlyConfigured(f"OMNICHANNEL_ENV must be local or production, got {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

_INSECURE_SECRET_KEY = "django-insecure-local-only-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _INSECURE_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off in production")
    # Long is not random: "x" * 50 or a repeated word passes a length test. A key from
    # get_random_secret_key() has ~30 distinct characters in 50; 16 refuses the repeats.
    if (
        SECRET_KEY == _INSECURE_SECRET_KEY
        or SECRET_KEY.startswith("django-insecure")
        or len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 16
    ):
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY to a random value of 50+ characters (16+ distinct ones), e.g. "
            "python -c 'from django.core.management.utils import get_random_secret_key as k; "
            "print(k())'"
        )

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    # Django would start and answer every request with 400: refuse at start instead.
    raise ImproperlyConfigured("Set DJANGO_ALLOWED_HOSTS to the host names the site answers on")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "django_celery_results",
    "import_export",
    "axes",
    "omnichannel",
    "crm",
    "loyalty",
    "campaigns",
    "omnichannel.kpis",
    "anymail",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A strict Content-Security-Policy on every response, static files too (omnichannel/csp.py).
    "omnichannel.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The client address for the audit trail (omnichannel/audit.py).
    "omnichannel.audit.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "omnichannel.urls"
WSGI_APPLICATION = "omnichannel.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "omnichannel.context_processors.navigation",
            ],
        },
    },
]

# Database: SQLite in var/ by default; DATABASE_URL (postgres://…) in production and CI.
DATABASE_URL = env_str("DATABASE_URL", "")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", default=60 if PRODUCTION else 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # JIT compiles any query the planner costs high: import batches and counts over a million
    # rows are, yet run in tens of milliseconds, so each paid its compile time (EXPLAIN ANALYZE
    # of the batch identity lookup: 9 ms of JIT) for nothing.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one file: WAL lets readers and a writer
    # overlap, and IMMEDIATE transactions fail fast instead of deadlocking on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests with a real worker thread: an in-memory test database is shared-cache, whose table
    # locks ignore the timeout ("database table is locked"); a file honours it.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis when REDIS_URL is set; otherwise files in var/, shared by all local processes.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: five failures for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env_int("AXES_PROXY_COUNT", default=0)

# Internationalisation: Traditional Chinese first, English switchable; Taipei time.
LANGUAGE_CODE = "zh-hant"
LANGUAGES = [("zh-hant", "繁體中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Taipei"
USE_I18N = True
USE_TZ = True
PHONENUMBER_REGION = "TW"

# Static files: vendored into static/ (no CDN); WhiteNoise serves them in production.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Celery: Redis or RabbitMQ through CELERY_BROKER_URL; Celery's filesystem broker in var/ by
# default so a fresh clone needs nothing else running.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    # The filesystem transport expects its folders to exist; any process may start first.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", default=30 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", default=35 * 60)
# Long tasks (imports, sends) should not hoard messages another worker could take.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The queue tasks go to and workers read by default: a test or a bench that starts its own worker
# process on a shared broker names a queue of its own, so no other worker takes its tasks.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE") or "celery"
# A background job's worker must report progress (a heartbeat) within this many seconds, or the
# reaper (omnichannel/jobs.py, every 5 minutes) takes it for dead: it redoes or fails the job.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", default=5 * 60)

# Logging: JSON lines in production (for the log pipeline), readable lines locally.
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "text")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request at INFO: a wallet push run is 100,000 of them.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# Security: strict in production; a reverse proxy terminates TLS and sets X-Forwarded-Proto.
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# E-mail: SMTP whenever EMAIL_HOST is set, an ESP through django-anymail whenever ANYMAIL_ESP is
# (e.g. "sendgrid", "amazon_ses", "mailgun"; its key in ANYMAIL_API_KEY), else the console.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", default=30)
ANYMAIL_ESP = env_str("ANYMAIL_ESP", "")
ANYMAIL = {
    "API_KEY": env_str("ANYMAIL_API_KEY", ""),
    "WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", ""),
}
if ANYMAIL_ESP and ANYMAIL["API_KEY"]:
    # anymail reads each ESP's key under its own name (MAILGUN_API_KEY, POSTMARK_SERVER_TOKEN).
    _esp_key = {"postmark": "SERVER_TOKEN"}.get(ANYMAIL_ESP, "API_KEY")
    ANYMAIL[f"{ANYMAIL_ESP.upper()}_{_esp_key}"] = ANYMAIL["API_KEY"]
if PRODUCTION and ANYMAIL_ESP and not ANYMAIL["WEBHOOK_SECRET"]:
    # The ESP's webhooks (/hooks/anymail/) suppress members on its word: never open to anyone.
    raise ImproperlyConfigured("Set ANYMAIL_WEBHOOK_SECRET (user:password) for the ESP webhooks")
if EMAIL_HOST:
    _email_backend_default = "django.core.mail.backends.smtp.EmailBackend"
elif ANYMAIL_ESP:
    _email_backend_default = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
else:
    _email_backend_default = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "") or _email_backend_default
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Omnichannel <noreply@example.com>")
# Campaign e-mail: the From of marketing messages, and the domain of their Message-IDs (empty:
# the From address's domain). A Message-ID is fixed per delivery, so a retry keeps it.
CAMPAIGN_EMAIL_FROM = env_str("CAMPAIGN_EMAIL_FROM", "") or DEFAULT_FROM_EMAIL
CAMPAIGN_EMAIL_MESSAGE_ID_DOMAIN = env_str("CAMPAIGN_EMAIL_MESSAGE_ID_DOMAIN", "")

# Campaigns (campaigns/). The public address members' links point to (unsubscribe, tracking):
# HTTPS in production.
OMNICHANNEL_PUBLIC_URL = env_str("OMNICHANNEL_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# LINE Messaging API: the real backend whenever the token is set.
LINE_API_BASE_URL = env_str("LINE_API_BASE_URL", "https://api.line.me").rstrip("/")
LINE_CHANNEL_ACCESS_TOKEN = env_str("LINE_CHANNEL_ACCESS_TOKEN", "")
LINE_CHANNEL_SECRET = env_str("LINE_CHANNEL_SECRET", "")
# Seconds one LINE API call may take before it counts as failed (and is retried, same key).
LINE_API_TIMEOUT_SECONDS = env_int("LINE_API_TIMEOUT_SECONDS", default=10)
# SMS: "twilio" or "mitake" with their credentials, else the sandbox.
SMS_PROVIDER = env_str("SMS_PROVIDER", "")
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = env_str("TWILIO_FROM", "")  # a number, or a Messaging Service SID (MG…)
MITAKE_API_BASE_URL = env_str("MITAKE_API_BASE_URL", "https://smsapi.mitake.com.tw").rstrip("/")
MITAKE_USERNAME = env_str("MITAKE_USERNAME", "")
MITAKE_PASSWORD = env_str("MITAKE_PASSWORD", "")
# What one SMS segment costs, in hundredths of NT$ (the estimate rounds the total up to NT$).
SMS_SEGMENT_PRICE_CENTS = env_int("SMS_SEGMENT_PRICE_CENTS", default=90)
# The report's cost of one message sent, in hundredths of NT$, per channel (ROI = (revenue −
# cost) / cost). The figures keep messages, not SMS segments: an SMS costs one segment's price
# unless CAMPAIGN_PRICE_SMS_CENTS says otherwise (set it to your average segments × the price).
# LINE's free monthly quota is not deducted: set the price you pay beyond it, or 0.
CAMPAIGN_MESSAGE_PRICE_CENTS = {
    "line": env_int("CAMPAIGN_PRICE_LINE_CENTS", default=20),
    "email": env_int("CAMPAIGN_PRICE_EMAIL_CENTS", default=3),
    "push": env_int("CAMPAIGN_PRICE_PUSH_CENTS", default=0),
    "sms": env_int("CAMPAIGN_PRICE_SMS_CENTS", default=SMS_SEGMENT_PRICE_CENTS),
}
# The builder refuses an SMS longer than this many segments for its longest member's copy.
CAMPAIGN_SMS_MAX_SEGMENTS = env_int("CAMPAIGN_SMS_MAX_SEGMENTS", default=5)
# Push: FCM HTTP v1 (a service account's JSON key file) and Web Push (VAPID).
FCM_API_BASE_URL = env_str("FCM_API_BASE_URL", "https://fcm.googleapis.com").rstrip("/")
FCM_SERVICE_ACCOUNT_FILE = env_str("FCM_SERVICE_ACCOUNT_FILE", "")
WEBPUSH_VAPID_PRIVATE_KEY = env_str("WEBPUSH_VAPID_PRIVATE_KEY", "")  # PEM file path or base64
WEBPUSH_VAPID_SUBJECT = env_str("WEBPUSH_VAPID_SUBJECT", "mailto:marketing@example.com")
WEBPUSH_TTL_SECONDS = env_int("WEBPUSH_TTL_SECONDS", default=24 * 60 * 60)

_SANDBOX = "campaigns.backends.sandbox.Sandbox"
CAMPAIGN_BACKENDS = {
    "line": "campaigns.backends.line.LineBackend"
    if LINE_CHANNEL_ACCESS_TOKEN
    else _SANDBOX + "Line",
    "email": (
        "campaigns.backends.email.EmailBackend" if EMAIL_HOST or ANYMAIL_ESP else _SANDBOX + "Email"
    ),
    "sms": {
        "twilio": "campaigns.backends.twilio.TwilioBackend",
        "mitake": "campaigns.backends.mitake.MitakeBackend",
    }.get(SMS_PROVIDER, _SANDBOX + "Sms"),
    "push": (
        "campaigns.backends.push.PushBackend"
        if FCM_SERVICE_ACCOUNT_FILE or WEBPUSH_VAPID_PRIVATE_KEY
        else _SANDBOX + "Push"
    ),
}
# Quiet hours in Asia/Taipei per channel, "HH:MM-HH:MM" ranges separated by commas: a message
# due inside one waits for its end, never dropped. SMS: Taiwan's carriers bar promotional SMS
# 21:00-09:00 and over lunch.
CAMPAIGN_QUIET_HOURS = {
    "sms": env_str("CAMPAIGN_QUIET_HOURS_SMS", "21:00-09:00,12:30-13:30"),
    "push": env_str("CAMPAIGN_QUIET_HOURS_PUSH", "21:00-09:00"),
    "line": env_str("CAMPAIGN_QUIET_HOURS_LINE", "21:00-09:00"),
    "email": env_str("CAMPAIGN_QUIET_HOURS_EMAIL", ""),
}
# At most this many marketing messages per member, all channels together, in this many days.
CAMPAIGN_FREQUENCY_CAP_MESSAGES = env_int("CAMPAIGN_FREQUENCY_CAP_MESSAGES", default=3)
CAMPAIGN_FREQUENCY_CAP_DAYS = env_int("CAMPAIGN_FREQUENCY_CAP_DAYS", default=7)
# Deliveries per send batch (LINE multicast and Mitake take 500 per call).
CAMPAIGN_BATCH_SIZE = env_int("CAMPAIGN_BATCH_SIZE", default=500)
# Provider calls a second per channel, shared by every worker (Redis, or the database).
CAMPAIGN_RATE_LIMITS = {
    "line": env_int("CAMPAIGN_RATE_LIMIT_LINE", default=100),
    "email": env_int("CAMPAIGN_RATE_LIMIT_EMAIL", default=200),
    "sms": env_int("CAMPAIGN_RATE_LIMIT_SMS", default=20),
    "push": env_int("CAMPAIGN_RATE_LIMIT_PUSH", default=500),
    # LINE Insight reads (GET /v2/bot/insight/message/event): a background job, kept gentle.
    "insight": env_int("CAMPAIGN_RATE_LIMIT_LINE_INSIGHT", default=5),
}
# A send batch's worker must report within this many seconds or another worker takes it over.
SEND_BATCH_LEASE_SECONDS = env_int("SEND_BATCH_LEASE_SECONDS", default=60)
# Provider attempts per batch before its remaining messages fail, and the first backoff.
CAMPAIGN_MAX_PROVIDER_ATTEMPTS = env_int("CAMPAIGN_MAX_PROVIDER_ATTEMPTS", default=6)
CAMPAIGN_RETRY_BACKOFF_SECONDS = env_int("CAMPAIGN_RETRY_BACKOFF_SECONDS", default=30)
# The sweep (beat every minute, and every few seconds in workers while a campaign sends) sends a
# queued batch's task again when it was sent this long ago and nobody took it (a lost message).
CAMPAIGN_REDISPATCH_SECONDS = env_int("CAMPAIGN_REDISPATCH_SECONDS", default=300)
CAMPAIGN_SWEEP_SECONDS = env_int("CAMPAIGN_SWEEP_SECONDS", default=15)
# LINE Insight (opens and clicks of a campaign variant's LINE messages, known only in aggregate
# per aggregation unit): asked this many hours after the send (LINE publishes the figures some
# time after), asked once more 3 days after (settled), never after 14 days; at most this many
# units a run.
LINE_INSIGHT_DELAY_HOURS = env_int("LINE_INSIGHT_DELAY_HOURS", default=24)
LINE_INSIGHT_MAX_PER_RUN = env_int("LINE_INSIGHT_MAX_PER_RUN", default=500)
# The global control group: this percent of all members (0-50) no marketing campaign reaches,
# for the programme's total incrementality. Membership is md5(salt:member id), so it stays put
# across campaigns; the salt keeps it unguessable (default: derived from the secret key).
CAMPAIGN_GLOBAL_CONTROL_PERCENT = env_int("CAMPAIGN_GLOBAL_CONTROL_PERCENT", default=0)
CAMPAIGN_CONTROL_GROUP_SALT = (
    env_str("CAMPAIGN_CONTROL_GROUP_SALT", "")
    or (hashlib.sha256(f"control-group:{SECRET_KEY}".encode()).hexdigest()[:32])
)

# django-ninja serves Swagger UI for /api/v1/docs from its own static files (no CDN).
INSTALLED_APPS += ["ninja"]

# Ingest API (/api/v1/): the largest request body accepted, and calls a minute per API key.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", default=1_000_000)
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", default=600)

# Member searches a person may run a minute (crm/search_policy.py): a search is an oracle for
# masked data, so it is limited per person; past it the page answers 429 with a message.
SEARCH_RATE_LIMIT_PER_MINUTE = env_int("SEARCH_RATE_LIMIT_PER_MINUTE", default=30)

# Loyalty at the till (loyalty/services/till.py): points a till holds for a sale in progress are
# given back by themselves after this many minutes unless the sale commits them (the sweep runs
# every minute; a hold past its time is refused at commit even before the sweep).
LOYALTY_HOLD_MINUTES = env_int("LOYALTY_HOLD_MINUTES", default=15)

# Wallet cards (loyalty/wallet/). Outside production every path defaults to the self-signed
# development chain that `manage.py wallet_dev_certificates` writes to WALLET_DEV_DIR, so a
# fresh clone builds and signs real passes; production names Apple's and Google's own files.
WALLET_DEV_DIR = Path(env_str("WALLET_DEV_DIR", str(VAR_DIR / "wallet-dev")))
_wallet_dev = "" if PRODUCTION else str(WALLET_DEV_DIR)
# Apple Wallet: the pass type id and team id of the Apple developer account, the pass-type
# certificate and its private key (PEM) and Apple's WWDR intermediate certificate (PEM).
APPLE_WALLET_PASS_TYPE_ID = env_str(
    "APPLE_WALLET_PASS_TYPE_ID", "pass.com.example.omnichannel.member"
)
APPLE_WALLET_TEAM_ID = env_str("APPLE_WALLET_TEAM_ID", "DEVTEAM000")
APPLE_WALLET_ORGANIZATION_NAME = env_str("APPLE_WALLET_ORGANIZATION_NAME", "Omnichannel")
APPLE_WALLET_CERTIFICATE = env_str(
    "APPLE_WALLET_CERTIFICATE", _wallet_dev and f"{_wallet_dev}/pass-certificate.pem"
)
APPLE_WALLET_KEY = env_str("APPLE_WALLET_KEY", _wallet_dev and f"{_wallet_dev}/pass-key.pem")
APPLE_WALLET_KEY_PASSWORD = env_str("APPLE_WALLET_KEY_PASSWORD", "")
APPLE_WALLET_WWDR_CERTIFICATE = env_str(
    "APPLE_WALLET_WWDR_CERTIFICATE", _wallet_dev and f"{_wallet_dev}/wwdr.pem"
)
# The pass's webServiceURL: where devices register and fetch updates (HTTPS in production).
APPLE_WALLET_WEB_SERVICE_URL = env_str(
    "APPLE_WALLET_WEB_SERVICE_URL", f"{OMNICHANNEL_PUBLIC_URL}/wallet/apple"
).rstrip("/")
# APNs, HTTP/2 with token-based auth: the .p8 signing key, its key id and the team id.
# APNS_CA_FILE: a CA bundle to trust instead of the system's (tests: the local server's CA).
APNS_BASE_URL = env_str("APNS_BASE_URL", "https://api.push.apple.com").rstrip("/")
APNS_KEY = env_str("APNS_KEY", _wallet_dev and f"{_wallet_dev}/apns-key.p8")
APNS_KEY_ID = env_str("APNS_KEY_ID", "DEVKEY0000")
APNS_TEAM_ID = env_str("APNS_TEAM_ID", APPLE_WALLET_TEAM_ID)
APNS_CA_FILE = env_str("APNS_CA_FILE", "")
# Google Wallet: the issuer id and the service account's JSON key (it signs the "Save to Google
# Wallet" JWTs and, traded at its token_uri, authorises the REST calls).
GOOGLE_WALLET_ISSUER_ID = env_str("GOOGLE_WALLET_ISSUER_ID", "3388000000000000000")
GOOGLE_WALLET_SERVICE_ACCOUNT_FILE = env_str(
    "GOOGLE_WALLET_SERVICE_ACCOUNT_FILE",
    _wallet_dev and f"{_wallet_dev}/google-service-account.json",
)
GOOGLE_WALLET_API_BASE_URL = env_str(
    "GOOGLE_WALLET_API_BASE_URL", "https://walletobjects.googleapis.com"
).rstrip("/")
GOOGLE_WALLET_SAVE_URL = env_str("GOOGLE_WALLET_SAVE_URL", "https://pay.google.com/gp/v/save")
# The loyalty class id is "<issuer id>.<suffix>"; a member's object "<issuer id>.<serial>".
GOOGLE_WALLET_CLASS_SUFFIX = env_str("GOOGLE_WALLET_CLASS_SUFFIX", "member")
# The issuer's name on the card (Google shows it above the programme's name).
GOOGLE_WALLET_ISSUER_NAME = env_str("GOOGLE_WALLET_ISSUER_NAME", APPLE_WALLET_ORGANIZATION_NAME)
# The card's background colour (#rrggbb).
GOOGLE_WALLET_BACKGROUND_COLOR = env_str("GOOGLE_WALLET_BACKGROUND_COLOR", "#1f3a5f")
# How many loyalty objects the updater patches at once (HTTP requests in flight).
GOOGLE_WALLET_CONCURRENCY = env_int("GOOGLE_WALLET_CONCURRENCY", default=16)
# Google signs its save/delete callbacks (ECv2SigningOnly); its root signing keys live here.
GOOGLE_WALLET_CALLBACK_KEYS_URL = env_str(
    "GOOGLE_WALLET_CALLBACK_KEYS_URL", "https://pay.google.com/gp/m/issuer/keys"
)
# Whether card updates are pushed to Apple (APNs) and Google (REST): on in production; off by
# default elsewhere, so `make run` and a fresh clone never call Apple or Google (the push job
# still coalesces and records its updates). Tests turn it on against local servers.
WALLET_PUSH_ENABLED = env_bool("WALLET_PUSH_ENABLED", default=PRODUCTION)
# A card is pushed at most once in this many minutes: changes in between ride along.
WALLET_PUSH_MINUTES = env_int("WALLET_PUSH_MINUTES", default=5)
# The add-to-wallet link (signed) works for this many days after it was made.
WALLET_LINK_MAX_AGE_DAYS = env_int("WALLET_LINK_MAX_AGE_DAYS", default=30)

# Loyalty's beat jobs. Birthday offers go out on the birthday itself ("day") or on the first day
# of the birth month ("month").
LOYALTY_BIRTHDAY_ON = env_str("LOYALTY_BIRTHDAY_ON", "day")
if LOYALTY_BIRTHDAY_ON not in ("day", "month"):
    raise ImproperlyConfigured("LOYALTY_BIRTHDAY_ON must be day or month")
# Unused points: remind members whose points expire within this many days, or who hold at least
# this many points and have redeemed none for this many days.
LOYALTY_REMINDER_EXPIRY_DAYS = env_int("LOYALTY_REMINDER_EXPIRY_DAYS", default=30)
LOYALTY_REMINDER_MIN_POINTS = env_int("LOYALTY_REMINDER_MIN_POINTS", default=500)
LOYALTY_REMINDER_IDLE_DAYS = env_int("LOYALTY_REMINDER_IDLE_DAYS", default=90)
