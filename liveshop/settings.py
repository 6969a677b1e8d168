"""LiveShop settings: the one place that reads the environment.

With no environment at all this is the embedded default: DEBUG on, SQLite file, in-memory
channel layer, local-memory cache, a generated development secret key. Every variable read
here is listed in the README's configuration table.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from liveshop.redis_retry import retry_once_on_a_dead_connection

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 1/0, true/false, yes/no or on/off, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = env_str(name)
    if not raw:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)


def _development_secret_key() -> str:
    """A per-checkout random key, kept in a git-ignored file so sessions survive restarts
    and every local process (daphne, manage.py, tests) signs with the same key."""
    path = BASE_DIR / ".dev-secret-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        return key


SECRET_KEY = env_str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
if not DEBUG:
    # Production must be configured on purpose: refuse to start on guessable defaults.
    if not SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required when DJANGO_DEBUG is off.")
else:
    SECRET_KEY = SECRET_KEY or _development_secret_key()
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]", "testserver"]

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- Database: SQLite unless DATABASE_URL (PostgreSQL) or MONGODB_URI (MongoDB) is set ----
# Checkouts one server process runs at once (orders.services.checkout_slot); the others wait
# in line in the process, not in the database, up to CHECKOUT_QUEUE_SECONDS, then answer 503.
CHECKOUT_CONCURRENCY = 4
CHECKOUT_QUEUE_SECONDS = 30
DATABASE_URL = env_str("DATABASE_URL")
MONGODB_URI = env_str("MONGODB_URI")
USING_MONGODB = bool(MONGODB_URI)
if DATABASE_URL and MONGODB_URI:
    raise ImproperlyConfigured("Set DATABASE_URL or MONGODB_URI, not both.")

if USING_MONGODB:
    import django_mongodb_backend

    DATABASES = {
        "default": django_mongodb_backend.parse_uri(
            MONGODB_URI, db_name=env_str("MONGODB_NAME", "liveshop")
        )
    }
    # MongoDB has no integer auto-increment: every model's key is an ObjectId.
    DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
else:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)
        if DATABASE_URL
        else {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # Concurrent writers (threads, daphne + a command) wait for the lock instead of
        # failing at once, and take it when their transaction begins (no upgrade deadlocks).
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE"}
        )
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A pool of connections per server process (psycopg_pool): a request borrows one
        # instead of opening its own (3 to 7 ms each here), and a process never holds more
        # than max_size, whatever the number of requests in flight (issue 8: "too many
        # clients" at 1,000 checkouts). Health checks: a pooled connection that died with a
        # server restart is replaced instead of failing a request.
        DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10)
        if DATABASE_POOL_SIZE < CHECKOUT_CONCURRENCY:
            raise ImproperlyConfigured(
                f"DATABASE_POOL_SIZE must be at least {CHECKOUT_CONCURRENCY}, the checkouts "
                "a server process runs at once."
            )
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2,
            "max_size": DATABASE_POOL_SIZE,
            "timeout": 5,  # seconds to wait for a free connection, then OperationalError
        }
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Applications ----------------------------------------------------------------------
if USING_MONGODB:
    # Contrib apps whose models use AutoField need configs that switch them to ObjectIds.
    CONTRIB_APPS = [
        "liveshop.mongo_apps.MongoAdminConfig",
        "liveshop.mongo_apps.MongoAuthConfig",
        "liveshop.mongo_apps.MongoContentTypesConfig",
    ]
else:
    CONTRIB_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes"]

INSTALLED_APPS = [
    "daphne",  # first, so `runserver` is daphne too
    *CONTRIB_APPS,
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our static files, no CDN
    "corsheaders",
    "accounts",
    "catalog",
    "rooms",
    "orders",
    "streaming",
    "notifications",
]

# MongoDB keeps its own migrations (ObjectId keys); a test keeps them in step with the models.
MONGO_MIGRATED_APPS = [
    "admin",
    "auth",
    "contenttypes",
    "accounts",
    "catalog",
    "rooms",
    "orders",
    "notifications",
]
if USING_MONGODB:
    MIGRATION_MODULES = {app: f"mongo_migrations.{app}" for app in MONGO_MIGRATED_APPS}

MIDDLEWARE = [
    # First, so that every /api/ answer (errors and redirects too) carries the CORS headers
    # and a preflight is answered before anything else looks at it.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "liveshop.urls"
ASGI_APPLICATION = "liveshop.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

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
                "orders.context_processors.cart",
                "notifications.context_processors.notifications",
            ],
            # liveshop is no app, so its template tags are named here: {% load money %}.
            "libraries": {"money": "liveshop.templatetags.money"},
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Only the languages the site is translated into, so Django's own messages never switch
# language under our English text.
LANGUAGES = [("en", "English")]
# Our translations (README "Internationalisation": makemessages, compilemessages).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ---------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT") or BASE_DIR / "media")
# WhiteNoise serves static files from daphne itself; in development straight from the
# source folders (no collectstatic needed), in production from hashed, compressed copies.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "liveshop.storage.StaticFilesStorage"
    },
}
# Uploaded images are checked and re-encoded (liveshop/images.py); this caps the raw upload.
MAX_IMAGE_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Background jobs (liveshop/background.py) -------------------------------------------
# False: a worker thread per process runs them after commit. The unit tests set it True to
# run them on the spot; it is not read from the environment.
BACKGROUND_INLINE = False

# --- The web server (liveshop/serve.py: uvicorn) ----------------------------------------
# Processes per machine; more than one needs REDIS_URL (they share rooms through Redis).
WEB_WORKERS = env_int("WEB_WORKERS", 1)
if WEB_WORKERS < 1:
    raise ImproperlyConfigured("WEB_WORKERS must be 1 or more.")
# Peers whose X-Forwarded-For/-Proto the server believes (comma-separated IPs or "*"): the
# TLS proxy in front. Anyone else could claim any address or scheme.
WEB_FORWARDED_ALLOW_IPS = env_str("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")

# --- Redis: cache, channel layer (and sessions, which stay out of it) -------------------
# Sessions live in the database alone, with or without Redis. Cached in Redis (cached_db),
# a Redis outage was a 500 on every signed-in page, and a logout during the outage could not
# reach the copy in Redis, which would have signed the user back in once Redis returned.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Falls back to the process's memory while Redis is away (liveshop/cache.py):
            # the cache holds throttle and login counters, which must not turn into 500s.
            "BACKEND": "liveshop.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "liveshop",
            "OPTIONS": {"REDIS_TIMEOUT_SECONDS": 0.5, "RETRY_SECONDS": 5},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # channels_redis waits 5 s per blocking read; redis-py's own 5 s socket
                # timeout could end that wait first and fail the socket's consumer.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 15,
                        "retry": retry_once_on_a_dead_connection(),
                    }
                ],
                "prefix": "liveshop",
                # It carries only messages for one socket (WebRTC answers and errors from
                # the media unit); room broadcasts go through the room hub (rooms/hub.py).
                # A socket that has not taken 100 of them is stuck: sending more fails
                # (ChannelFull) rather than queueing without bound; unread ones expire.
                "capacity": 100,
                "expiry": 60,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Seconds of silence after which a server process asks Redis whether its room subscription
# still lives (rooms/hub.py); twice that without an answer closes its room sockets (1012).
ROOM_HUB_HEALTH_SECONDS = env_int("ROOM_HUB_HEALTH_SECONDS", 15)

# Seconds after which a server process that stopped saying it lives (crashed, killed) is
# taken for dead, and its room sockets stop counting among the viewers; each process says so
# every third of it (rooms/store.py: RedisRoomStore, the heartbeat in rooms/hub.py). Tests
# shorten it.
ROOM_VIEWER_TTL_SECONDS = env_int("ROOM_VIEWER_TTL_SECONDS", 60)

# Seconds each server process keeps the busy public pages (home, rooms, products) as an
# anonymous visitor sees them (liveshop/pagecache.py). Off while developing, so an edited
# template shows at once; 0 turns it off in production too.
PAGE_CACHE_SECONDS = env_int("PAGE_CACHE_SECONDS", 0 if DEBUG else 1)
if PAGE_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("PAGE_CACHE_SECONDS must be 0 (off) or more.")

# --- Payments ---------------------------------------------------------------------------
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
# Tests point the official SDK at a fake Stripe server on loopback; empty means Stripe itself.
STRIPE_API_BASE = env_str("STRIPE_API_BASE")
STRIPE_TIMEOUT_SECONDS = 10
CHECKOUT_SESSION_MINUTES = 30
PAYMENTS_BACKEND = env_str("PAYMENTS_BACKEND") or (
    "dummy" if DEBUG and not STRIPE_SECRET_KEY else "stripe"
)
if PAYMENTS_BACKEND not in {"stripe", "dummy"}:
    raise ImproperlyConfigured("PAYMENTS_BACKEND must be 'stripe' or 'dummy'.")
if PAYMENTS_BACKEND == "dummy" and not DEBUG:
    raise ImproperlyConfigured("The dummy payment backend moves no money: it refuses DEBUG off.")
if PAYMENTS_BACKEND == "stripe" and not (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET):
    raise ImproperlyConfigured(
        "Stripe payments need STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET "
        "(or PAYMENTS_BACKEND=dummy while DEBUG is on)."
    )

# --- Login throttling (site and API share the counters) --------------------------------
LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_IP = 20
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60

# --- REST API ---------------------------------------------------------------------------
_THROTTLE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def _checked_throttle_rates(rates: dict[str, str]) -> dict[str, str]:
    """Rates such as "120/min". Checked here: DRF reads only the first letter of the period,
    so a typo like "120/mni" would otherwise quietly mean per minute."""
    checked = {}
    for scope, raw in rates.items():
        count, _, period = raw.replace(" ", "").partition("/")
        if not (count.isdigit() and int(count) > 0 and period.lower() in _THROTTLE_PERIODS):
            raise ImproperlyConfigured(
                f"API_THROTTLE_{scope.upper()} must look like 120/min (a count per s, min, "
                f"hour or day), not {raw!r}"
            )
        checked[scope] = f"{int(count)}/{period.lower()}"
    return checked


# Request rates of the API (liveshop/throttling.py), counted in the cache (Redis when
# REDIS_URL is set, so every daphne process shares the counters). Failed logins have their
# own, stricter counters above.
API_THROTTLE_RATES = _checked_throttle_rates(
    {
        "anon": env_str("API_THROTTLE_ANON") or "120/min",  # reads by visitors, per address
        "user": env_str("API_THROTTLE_USER") or "600/min",  # reads when signed in, per user
        "write": env_str("API_THROTTLE_WRITE") or "120/min",  # per user, or address if none
        "auth": env_str("API_THROTTLE_AUTH") or "20/min",  # register/token/refresh, per address
    }
)
# How many reverse proxies in front of daphne append to X-Forwarded-For. 0 (the default)
# ignores that header, which any client can forge, and counts by the connection's address.
API_TRUSTED_PROXIES = env_int("API_TRUSTED_PROXIES", 0)
if API_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("API_TRUSTED_PROXIES must be 0 or more.")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.SignInJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "liveshop.api.StandardPagination",
    "DEFAULT_SCHEMA_CLASS": "liveshop.schema.AutoSchema",
    "EXCEPTION_HANDLER": "liveshop.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "liveshop.throttling.AuthRateThrottle",
        "liveshop.throttling.AnonReadRateThrottle",
        "liveshop.throttling.UserReadRateThrottle",
        "liveshop.throttling.WriteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": API_THROTTLE_RATES,
    "NUM_PROXIES": API_TRUSTED_PROXIES,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=14),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    # Revoked refresh tokens live in accounts.RevokedToken (works on MongoDB too).
    "TOKEN_OBTAIN_SERIALIZER": "accounts.apis.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.apis.TokenRefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "accounts.apis.TokenVerifySerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LiveShop API",
    "DESCRIPTION": "REST API of LiveShop, the live-shopping site. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "Status"; name each enum in the schema after its model.
    "ENUM_NAME_OVERRIDES": {
        "RoomStatusEnum": "rooms.models.ShoppingRoom.Status",
        "OrderStatusEnum": "orders.models.Order.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "liveshop.schema.document_throttling",
    ],
    # /api/docs/ and /api/redoc/ load their scripts from drf-spectacular-sidecar's static
    # files: the docs work offline and no third-party CDN sees who reads them.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the whole schema to validator.swagger.io for a badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}


# --- CORS: browser apps on other origins may call /api/ -------------------------------
def _checked_origins(origins: list[str]) -> list[str]:
    """Origins as browsers send them: scheme://host[:port], nothing after. Checked here,
    because django-cors-headers only warns in `manage.py check`, which daphne never runs."""
    from urllib.parse import urlsplit

    for origin in origins:
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018  (raises ValueError on a malformed port)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
            # Browsers send the origin in lower case, exactly scheme://host[:port].
            or origin != f"{parts.scheme}://{parts.netloc}".lower()
        ):
            raise ImproperlyConfigured(
                "CORS_ALLOWED_ORIGINS takes comma-separated origins like "
                "https://app.example.com (scheme, host and optional port; no path or trailing "
                f"slash), not {origin!r}"
            )
    return origins


CORS_ALLOWED_ORIGINS = _checked_origins(env_list("CORS_ALLOWED_ORIGINS"))
CORS_URLS_REGEX = r"^/api/.*$"
# Apps send the JWT in the Authorization header, never cookies: no credentialed requests,
# so another origin can never ride on a signed-in website session.
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "user-agent", "x-requested-with"]
CORS_EXPOSE_HEADERS = ["Retry-After"]  # so a browser app can read how long to back off
CORS_PREFLIGHT_MAX_AGE = 86_400  # browsers cap this themselves (Chromium at 2 hours)


# --- Live video (streaming/) ------------------------------------------------------------
def _ice_servers(raw: str) -> list[dict]:
    """ICE_SERVERS: a JSON list of RTCIceServer objects, as browsers take them. Checked here
    so that a typo fails at start-up, not as black video for every viewer."""
    import json

    if not raw:
        return []
    try:
        servers = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured("ICE_SERVERS must be a JSON list") from None
    if not isinstance(servers, list):
        raise ImproperlyConfigured("ICE_SERVERS must be a JSON list")
    for server in servers:
        urls = server.get("urls") if isinstance(server, dict) else None
        urls = [urls] if isinstance(urls, str) else urls
        if (
            not isinstance(urls, list)
            or not urls
            or not all(isinstance(u, str) and u.split(":", 1)[0] in _ICE_SCHEMES for u in urls)
            or set(server) - {"urls", "username", "credential"}
            or not all(isinstance(server.get(k, ""), str) for k in ("username", "credential"))
        ):
            raise ImproperlyConfigured(
                'ICE_SERVERS entries look like {"urls": ["turn:host:3478"], "username": "u", '
                f'"credential": "p"}} (stun:, turn: or turns: URLs); got {server!r}'
            )
    return servers


_ICE_SCHEMES = {"stun", "turn", "turns"}
# Empty by default: on loopback and a LAN host candidates connect; STUN/TURN are for the
# internet (docker-compose runs coturn, see README "Live video").
ICE_SERVERS = _ice_servers(env_str("ICE_SERVERS"))

# --- Production hardening (checked by `manage.py check --deploy`) ----------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probed over plain HTTP inside the network
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    X_FRAME_OPTIONS = "DENY"
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Replaces Django's own console logger, which would print every line twice.
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # aioice logs every ICE check of every viewer at INFO.
        "aioice": {"level": "WARNING"},
    },
}
