"""Settings for every Sequence process (web, Celery workers, beat, edges), read from the environment.

`.env.example` documents every variable. A local `.env` (made by `make run` / `make test`) is read
first; the real environment overrides it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from sequence_site.env import env_bool, env_int, env_key32, env_list, env_str, load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
CREDENTIAL_ENCRYPTION_KEY = env_key32("CREDENTIAL_ENCRYPTION_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Where runtime files live (SQLite file for `make run`, strategy run folders, market data).
VAR_DIR = Path(env_str("SEQUENCE_VAR_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # /v1/docs: ninja's own copy of Swagger UI (its static files), not the CDN template it falls
    # back to when "ninja" is not an installed app — the docs must load offline.
    "ninja",
    "channels",
    "sequence_site",
    "edges",
    "trading",
    "algo_studio",
    "strategies",
    "backtests",
]

MIDDLEWARE = [
    # First: every error under /v1 leaves in the API's JSON shape, whichever layer made it.
    "sequence_site.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "sequence_site.middleware.DashboardScopeMiddleware",
]

ROOT_URLCONF = "sequence_site.urls"
ASGI_APPLICATION = "sequence_site.asgi.application"
WSGI_APPLICATION = None

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
                "sequence_site.context_processors.dashboard",
            ],
        },
    },
]

# PostgreSQL in tests and production; a SQLite file is the embedded default for `make run`.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'sequence.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
    )
}
# Parallel test runs on one machine each need their own test database (default test_<name>).
if test_db_name := env_str("TEST_DATABASE_NAME", ""):
    DATABASES["default"]["TEST"] = {"NAME": test_db_name}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Several processes (web, workers, edges) share the file: wait on locks instead of failing.
    # WAL lets readers (web) and the writer (edges, workers) proceed together, and skips an fsync
    # per commit; fine for the single-machine `make run` this default is for.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# `make run` without a Redis on 127.0.0.1:6379 starts an embedded one and tells its processes only
# where it listens (SEQUENCE_EMBEDDED_REDIS=host:port); its password stays in `.env`, which each
# process reads here, so no process environment carries it.
if (_embedded_redis := env_str("SEQUENCE_EMBEDDED_REDIS", "")) and not env_str("REDIS_URL", ""):
    REDIS_URL = f"redis://:{env_str('EMBEDDED_REDIS_PASSWORD')}@{_embedded_redis}/0"
else:
    REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 reads with a 5 s socket timeout by default, exactly channels_redis's 5 s
            # blocking receive: every receive that waited 5 s for nothing raised TimeoutError and
            # took its consumer down (a websocket idle for 5 s, or any on a loaded machine).
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": env_str("CHANNEL_LAYER_PREFIX", "sequence"),
            # Live fan-out, not a queue: a follower that falls behind loses old messages
            # instead of growing Redis without bound.
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # Exact names win over globs: the janitors must run even when every `backtests` or
    # `strategies` slot is busy with a job or supervising a process.
    "backtests.janitor": {"queue": "default"},
    "backtests.*": {"queue": "backtests"},
    "strategies.janitor": {"queue": "default"},
    "strategies.retry_due": {"queue": "default"},
    "strategies.*": {"queue": "strategies"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"


def _env_seconds(name: str, default: float) -> float:
    raw = env_str(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number of seconds.") from None
    if value <= 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be above 0.")
    return value


# Hosted strategies (strategies/, docs/strategies.md). Supervisors are Celery tasks on the
# `strategies` queue, or `strategies.<region>` when a latency target maps to a region here
# ("coinbase=us-east-1,kalshi=eu-west-1"): run `celery -A sequence_site worker -Q strategies.us-east-1`
# on the hosts of that region.
SEQUENCE_PUBLIC_API_URL = env_str("SEQUENCE_PUBLIC_API_URL", "http://127.0.0.1:8000")
STRATEGY_RUN_DIR = Path(env_str("STRATEGY_RUN_DIR", str(VAR_DIR / "strategy-runs")))
STRATEGY_PYTHON = env_str("STRATEGY_PYTHON", sys.executable)
STRATEGY_PLACEMENT_REGIONS = {
    target.partition("=")[0].strip().lower(): target.partition("=")[2].strip()
    for target in env_list("STRATEGY_PLACEMENT_REGIONS", [])
    if "=" in target
}
STRATEGY_DEFAULT_MEMORY_MB = env_int("STRATEGY_DEFAULT_MEMORY_MB", 512, minimum=64)
STRATEGY_MAX_MEMORY_MB = env_int("STRATEGY_MAX_MEMORY_MB", 4096, minimum=64)
STRATEGY_CPU_SECONDS = env_int("STRATEGY_CPU_SECONDS", 0, minimum=0)  # 0: no CPU-time limit
STRATEGY_OPEN_FILES = env_int("STRATEGY_OPEN_FILES", 1024, minimum=16)
STRATEGY_MAX_UPLOAD_MB = env_int("STRATEGY_MAX_UPLOAD_MB", 20, minimum=1)
STRATEGY_MAX_UNPACKED_MB = env_int("STRATEGY_MAX_UNPACKED_MB", 50, minimum=1)
STRATEGY_MAX_FILES = env_int("STRATEGY_MAX_FILES", 5000, minimum=1)
STRATEGY_HEARTBEAT_SECONDS = _env_seconds("STRATEGY_HEARTBEAT_SECONDS", 1.0)
STRATEGY_HEARTBEAT_TIMEOUT_SECONDS = _env_seconds("STRATEGY_HEARTBEAT_TIMEOUT_SECONDS", 30.0)
STRATEGY_STOP_GRACE_SECONDS = _env_seconds("STRATEGY_STOP_GRACE_SECONDS", 10.0)
STRATEGY_BACKOFF_BASE_SECONDS = _env_seconds("STRATEGY_BACKOFF_BASE_SECONDS", 1.0)
STRATEGY_BACKOFF_MAX_SECONDS = _env_seconds("STRATEGY_BACKOFF_MAX_SECONDS", 300.0)
STRATEGY_BACKOFF_RESET_SECONDS = _env_seconds("STRATEGY_BACKOFF_RESET_SECONDS", 300.0)
STRATEGY_DISPATCH_RETRY_SECONDS = _env_seconds("STRATEGY_DISPATCH_RETRY_SECONDS", 60.0)
STRATEGY_JANITOR_SECONDS = _env_seconds("STRATEGY_JANITOR_SECONDS", 5.0)
STRATEGY_LOG_RETENTION_DAYS = env_int("STRATEGY_LOG_RETENTION_DAYS", 14, minimum=1)
# What of a run's output is stored (strategies.services.LogQuota): lines/s, burst, MiB per run.
STRATEGY_LOG_LINES_PER_SECOND = env_int("STRATEGY_LOG_LINES_PER_SECOND", 200, minimum=1)
STRATEGY_LOG_BURST_LINES = env_int("STRATEGY_LOG_BURST_LINES", 10_000, minimum=1)
STRATEGY_LOG_MAX_MB_PER_RUN = env_int("STRATEGY_LOG_MAX_MB_PER_RUN", 64, minimum=1)

# The strategy sandbox (strategies/runner/sandbox.py, docs/strategies.md "The sandbox"). "bwrap"
# (default): every run in its own namespaces, uid and cgroup; a runner without a working bwrap
# refuses to start runs. "none": plain child processes, for local development only (the dashboard
# warns, and live strategies are refused).
SEQUENCE_STRATEGY_SANDBOX = env_str("SEQUENCE_STRATEGY_SANDBOX", "bwrap").strip().lower()
if SEQUENCE_STRATEGY_SANDBOX not in ("bwrap", "none"):
    raise ImproperlyConfigured(
        f"SEQUENCE_STRATEGY_SANDBOX={SEQUENCE_STRATEGY_SANDBOX!r}: "
        "use 'bwrap' or 'none' (local development only)."
    )
STRATEGY_SANDBOX_DIR = Path(env_str("STRATEGY_SANDBOX_DIR", str(VAR_DIR / "sandbox")))
STRATEGY_SANDBOX_IMAGE = Path(
    env_str("STRATEGY_SANDBOX_IMAGE", str(STRATEGY_SANDBOX_DIR / "images" / "python3.12"))
)
# The CPython 3.12 the image is built from; "" = found (pyenv's versions, python3.12 on PATH).
STRATEGY_SANDBOX_PYTHON = env_str("STRATEGY_SANDBOX_PYTHON", "")
STRATEGY_BWRAP = env_str("STRATEGY_BWRAP", "")  # "" = bwrap on PATH
STRATEGY_SANDBOX_UID_BASE = env_int("STRATEGY_SANDBOX_UID_BASE", 200_000, minimum=1000)
STRATEGY_MAX_PROCESSES = env_int("STRATEGY_MAX_PROCESSES", 256, minimum=8)  # processes + threads of a run
STRATEGY_TMP_MB = env_int("STRATEGY_TMP_MB", 64, minimum=1)
STRATEGY_WORKSPACE_MB = env_int("STRATEGY_WORKSPACE_MB", 500, minimum=1)
STRATEGY_WORKSPACE_FILES = env_int("STRATEGY_WORKSPACE_FILES", 20_000, minimum=10)
STRATEGY_WORKSPACE_CHECK_SECONDS = _env_seconds("STRATEGY_WORKSPACE_CHECK_SECONDS", 5.0)
STRATEGY_FROZEN_SECONDS = _env_seconds("STRATEGY_FROZEN_SECONDS", 30.0)

# Backtests (backtests/, docs/backtests.md): the Parquet market-data store, and how often a running
# job writes its progress (and heartbeat) to the database and the channel layer.
MARKET_DATA_DIR = Path(env_str("MARKET_DATA_DIR", str(VAR_DIR / "market-data")))
# The replay's blocks (uncompressed copies of the days it replayed, ~0.5 GB a symbol-month) are a
# cache: after a job that wrote blocks, the least recently used beyond this many MiB are removed.
MARKET_DATA_BLOCK_CACHE_MB = env_int("MARKET_DATA_BLOCK_CACHE_MB", 4096, minimum=0)
# Edges record the books they see into MARKET_DATA_DIR, so past sessions can be backtested.
EDGE_RECORD_MARKET_DATA = env_bool("EDGE_RECORD_MARKET_DATA", True)
# How often an edge reconciles its algos with the database when no Redis nudge comes (a nudge makes
# it immediate; this pass bounds a lost one).
EDGE_RECONCILE_SECONDS = _env_seconds("EDGE_RECONCILE_SECONDS", 2.0)
BACKTEST_PROGRESS_SECONDS = _env_seconds("BACKTEST_PROGRESS_SECONDS", 0.5)


# Live venue feeds (venues/live, docs/venues.md). VENUE_FEED_<VENUE>=live makes that venue's sandbox
# edge read the real venue's public market data and paper-fill on it; the default, sim, keeps
# `make run` offline. VENUE_FEED_<VENUE>_WS_URL/_REST_URL default to the venue's public endpoints
# (tests point them at tests/fakevenues). Unset limits keep each venue's own (its protocol's).
def _env_feed(name: str) -> str:
    value = env_str(name, "sim").strip().lower()
    if value not in ("sim", "live"):
        raise ImproperlyConfigured(f"{name}={value!r} must be sim or live.")
    return value


def _env_optional_seconds(name: str) -> float | None:
    return _env_seconds(name, 1.0) if env_str(name, "") else None


VENUE_FEED_SILENCE_SECONDS = _env_optional_seconds("VENUE_FEED_SILENCE_SECONDS")
VENUE_FEED_STALE_AFTER_SECONDS = _env_optional_seconds("VENUE_FEED_STALE_AFTER_SECONDS")
# How long a live feed's thread polls its socket without sleeping before it blocks, in µs: 0 (the
# default) blocks at once; an edge with a core of its own sets about 1000–5000 and takes each frame
# without a thread wake-up (docs/benchmarks.md: frame → on_book about halved on this VM).
VENUE_FEED_BUSY_POLL_US = env_int("VENUE_FEED_BUSY_POLL_US", 0, minimum=0)
# kraken
VENUE_FEED_KRAKEN = _env_feed("VENUE_FEED_KRAKEN")
VENUE_FEED_KRAKEN_WS_URL = env_str("VENUE_FEED_KRAKEN_WS_URL", "wss://ws.kraken.com/v2")
VENUE_FEED_KRAKEN_REST_URL = env_str("VENUE_FEED_KRAKEN_REST_URL", "https://api.kraken.com")
# coinbase (Advanced Trade: level2 + heartbeats, public product list; no key needed)
VENUE_FEED_COINBASE = _env_feed("VENUE_FEED_COINBASE")
VENUE_FEED_COINBASE_WS_URL = env_str("VENUE_FEED_COINBASE_WS_URL", "wss://advanced-trade-ws.coinbase.com")
VENUE_FEED_COINBASE_REST_URL = env_str("VENUE_FEED_COINBASE_REST_URL", "https://api.coinbase.com")

# How often the live venues' catalogues (markets, events, pairs, products) are synced.
VENUE_CATALOGUE_SYNC_SECONDS = _env_seconds("VENUE_CATALOGUE_SYNC_SECONDS", 300.0)
# A live Kalshi or Polymarket edge follows the books of this many markets of the synced catalogue,
# the most traded first (both outcomes of each): the venues list thousands.
VENUE_FEED_MAX_MARKETS = env_int("VENUE_FEED_MAX_MARKETS", 200, minimum=1)

# A running job whose heartbeat is older than this lost its worker: the janitor fails it. Generous,
# because a heartbeat only comes with progress (every few thousand events, or each prepared day).
BACKTEST_HEARTBEAT_TIMEOUT_SECONDS = _env_seconds("BACKTEST_HEARTBEAT_TIMEOUT_SECONDS", 120.0)
BACKTEST_JANITOR_SECONDS = _env_seconds("BACKTEST_JANITOR_SECONDS", 30.0)

# Periodic janitors (one `celery beat` per installation). They go to the `default` queue so they
# still run when every `strategies` or `backtests` slot is busy.
CELERY_BEAT_SCHEDULE = {
    "strategies-janitor": {
        "task": "strategies.janitor",
        "schedule": STRATEGY_JANITOR_SECONDS,
        "options": {"queue": "default", "expires": STRATEGY_JANITOR_SECONDS * 2},
    },
    "backtests-janitor": {
        "task": "backtests.janitor",
        "schedule": BACKTEST_JANITOR_SECONDS,
        "options": {"queue": "default", "expires": BACKTEST_JANITOR_SECONDS * 2},
    },
    # The live venues' catalogues into the database (edges/catalogue.py): only venues whose feed is
    # live are fetched, so an offline installation makes no request.
    "venue-catalogues": {
        "task": "edges.sync_catalogues",
        "schedule": VENUE_CATALOGUE_SYNC_SECONDS,
        "options": {"queue": "default", "expires": VENUE_CATALOGUE_SYNC_SECONDS * 2},
    },
}

# Kalshi's live market data (venues/kalshi, docs/venues.md). `sim` (the default) keeps Kalshi on the
# simulator and the machine offline; `live` streams Kalshi's real books, which needs an API key:
# its id and its RSA private key (a PEM file, or the PEM itself in KALSHI_PRIVATE_KEY). The URLs
# default to Kalshi's production hosts; tests point them at the fake venue.
VENUE_FEED_KALSHI = _env_feed("VENUE_FEED_KALSHI")
VENUE_FEED_KALSHI_WS_URL = env_str(
    "VENUE_FEED_KALSHI_WS_URL", "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
)
VENUE_FEED_KALSHI_REST_URL = env_str(
    "VENUE_FEED_KALSHI_REST_URL", "https://external-api.kalshi.com/trade-api/v2"
)
KALSHI_API_KEY_ID = env_str("KALSHI_API_KEY_ID", "")
KALSHI_PRIVATE_KEY_PATH = env_str("KALSHI_PRIVATE_KEY_PATH", "")
KALSHI_PRIVATE_KEY = env_str("KALSHI_PRIVATE_KEY", "")
_kalshi_key = KALSHI_API_KEY_ID and (KALSHI_PRIVATE_KEY_PATH or KALSHI_PRIVATE_KEY)
if VENUE_FEED_KALSHI == "live" and not _kalshi_key:
    raise ImproperlyConfigured(
        "VENUE_FEED_KALSHI=live needs KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH (or KALSHI_PRIVATE_KEY): "
        "Kalshi signs even its market-data WebSocket."
    )
# What the edge hands the Kalshi feed (venues.live.factory reads no settings itself).
VENUE_FEED_KALSHI_OPTIONS = {
    "key_id": KALSHI_API_KEY_ID,
    "private_key_path": KALSHI_PRIVATE_KEY_PATH,
    "private_key_pem": KALSHI_PRIVATE_KEY,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS: list[Path | tuple[str, Path]] = [BASE_DIR / "static"]
# Front-end packages installed by `npm ci` (package.json; the Makefile's venv step runs it). Only the
# built `dist/` folder of each package package.json names is served, as
# /static/vendor/<package>/dist/...: e.g. chart.js's dist/chart.umd.min.js. Sources, their
# dependencies and package metadata in node_modules stay private. Absent before `npm ci`.
for _package in json.loads((BASE_DIR / "package.json").read_text())["dependencies"]:
    _dist = BASE_DIR / "node_modules" / _package / "dist"
    if _dist.is_dir():
        STATICFILES_DIRS.append((f"vendor/{_package}/dist", _dist))
STATIC_ROOT = VAR_DIR / "staticfiles"
# Serve straight from the app/static folders (no collectstatic step for `make run`).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# -- Polymarket live market data (venues/polymarket) ----------------------------------------------
# VENUE_FEED_POLYMARKET: sim (default, offline) or live: books from the CLOB market channel
# (_WS_URL), markets from the Gamma API (_REST_URL) joined with the CLOB REST API's /book
# (VENUE_FEED_POLYMARKET_CLOB_URL, passed as the feed's "clob_url" option). Public data, no key.
VENUE_FEED_POLYMARKET = _env_feed("VENUE_FEED_POLYMARKET")
VENUE_FEED_POLYMARKET_WS_URL = env_str(
    "VENUE_FEED_POLYMARKET_WS_URL", "wss://ws-subscriptions-clob.polymarket.com/ws/market"
)
VENUE_FEED_POLYMARKET_REST_URL = env_str("VENUE_FEED_POLYMARKET_REST_URL", "https://gamma-api.polymarket.com")
VENUE_FEED_POLYMARKET_OPTIONS = {
    "clob_url": env_str("VENUE_FEED_POLYMARKET_CLOB_URL", "https://clob.polymarket.com"),
}


# -- Live trading (trading/live.py, docs/trading-live.md) -----------------------------------------
# Where each venue's authenticated API is for the order half (venues/<venue>/orders.py): empty
# means the venue's real production URLs (the order client's own defaults); tests point them at
# tests/fakevenues. VENUE_ORDERS_<VENUE>_OPTIONS is a JSON object of venue-only options
# (Polymarket: chain_id, signature_type, funder).
def _env_json_object(name: str) -> dict[str, str]:
    raw = env_str(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object.")
    return {str(k): str(v) for k, v in value.items()}


for _venue in ("KRAKEN", "COINBASE", "KALSHI", "POLYMARKET"):
    globals()[f"VENUE_ORDERS_{_venue}_REST_URL"] = env_str(f"VENUE_ORDERS_{_venue}_REST_URL", "")
    globals()[f"VENUE_ORDERS_{_venue}_WS_URL"] = env_str(f"VENUE_ORDERS_{_venue}_WS_URL", "")
    globals()[f"VENUE_ORDERS_{_venue}_OPTIONS"] = _env_json_object(f"VENUE_ORDERS_{_venue}_OPTIONS")

# Risk limits a client has not set (per client and venue, live orders only; USD). Safe by default:
# small enough that a runaway algo or a typo costs little, and a client raises them on purpose.
RISK_DEFAULT_MAX_ORDER_NOTIONAL = env_str("RISK_DEFAULT_MAX_ORDER_NOTIONAL", "1000")
RISK_DEFAULT_MAX_POSITION_NOTIONAL = env_str("RISK_DEFAULT_MAX_POSITION_NOTIONAL", "5000")
RISK_DEFAULT_MAX_OPEN_ORDERS = env_int("RISK_DEFAULT_MAX_OPEN_ORDERS", 20, minimum=0)
RISK_DEFAULT_MAX_ORDERS_PER_SECOND = env_int("RISK_DEFAULT_MAX_ORDERS_PER_SECOND", 5, minimum=0)
RISK_DEFAULT_DAILY_LOSS_LIMIT = env_str("RISK_DEFAULT_DAILY_LOSS_LIMIT", "500")
# The venues whose live orders are actually sent (the operator's switch). By default the venues whose
# live order path (outbox, sending edge, private streams, fills, risk, kill switch) runs end to end
# against the strict fake venues in `make test` (tests/live, docs/trading-live.md); a live graph order
# for another venue is refused with `no_live_connector`. Empty (`LIVE_TRADING_VENUES=`) turns live
# sending off. Connecting credentials, limits and the kill switch work regardless.
LIVE_TRADING_VENUES = tuple(v.lower() for v in env_list("LIVE_TRADING_VENUES", ["kraken", "coinbase"]))
# How often the live edge asks each venue for the fills and open orders of the clients it works
# orders for (besides every nudge).
LIVE_ORDER_POLL_SECONDS = _env_seconds("LIVE_ORDER_POLL_SECONDS", 1.0)
