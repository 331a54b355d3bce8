"""Configuration defaults.

Order of precedence (later wins): these defaults → `instance/config.py` (untracked) →
`FLASK_*` environment variables (JSON-decoded when they parse, e.g. `FLASK_LEASE_SECONDS=600`)
→ the `test_config` given to `create_app`.
"""
from __future__ import annotations

import os

from flask import Flask

# "development", "testing" or "production". Anything but development/testing requires a SECRET_KEY.
ENV = "production"
# Signs sessions and CSRF tokens. No default: `make demo` generates one into instance/config.py.
SECRET_KEY: str | None = None
# SQLAlchemy URL. None means an SQLite file under the instance folder (the embedded default).
# PostgreSQL: postgresql+psycopg://user:pass@host:5432/dbname
SQLALCHEMY_DATABASE_URI: str | None = None
SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
# Where uploaded and generated media live. None means instance/media.
MEDIA_ROOT: str | None = None
# Largest request body (uploads included), in bytes.
MAX_CONTENT_LENGTH = 64 * 1024 * 1024
# Largest total size of one upload once unzipped: every file sent plus every member of every zip,
# counted as they are read (zip headers are not trusted). Media are streamed to disk under
# MEDIA_ROOT while checked, so this bounds an upload's scratch disk, not its memory.
MAX_UPLOAD_INFLATED_BYTES = 256 * 1024 * 1024
# Most files all the zips of one upload may hold together.
MAX_ZIP_MEMBERS = 10_000
# Largest JSON request body, in bytes (uploads of rows go through MAX_CONTENT_LENGTH instead).
MAX_JSON_BYTES = 1024 * 1024
# Most items one upload may create.
MAX_ITEMS_PER_UPLOAD = 100_000
# How long a served task stays reserved for its annotator before it returns to the pool.
LEASE_SECONDS = 15 * 60
# Active time per answer is measured by the server (served → submitted); a longer gap than this
# counts as idle and is capped, so a task left open over lunch does not skew a job's hourly rate.
MAX_ACTIVE_MS_PER_ANSWER = 10 * 60 * 1000
# Symbol of the reward token; amounts are integers in its smallest unit (FLT has 0 decimals).
TOKEN_SYMBOL = "FLT"
# Platform fee on every accepted answer, in basis points of its reward (500 = 5%), reserved with
# the rewards when a job is published.
PLATFORM_FEE_BPS = 500
# The hourly pay floor, enforced in the payment path: jobs estimated under it are refused, and
# accepted answers are topped up to it when measured times show a job misses it. 0 disables it.
PAY_FLOOR_PER_HOUR = "12"
PAY_FLOOR_CURRENCY = "USD"
# Token smallest units per 1 unit of PAY_FLOOR_CURRENCY (100: 1 FLT is one cent).
TOKEN_UNITS_PER_CURRENCY = "100"
# Answers a job needs before its measured median time replaces the requester's estimate.
PAY_FLOOR_MIN_ANSWERS = 10
# How long accepted earnings stay pending (the requester's dispute window) before payout.
PAYOUT_HOLD_SECONDS = 72 * 3600
# --- Chain (payouts, deposits, wallet sign-in) ---
# JSON-RPC URL of any EVM node. None: an in-process EVM (py-evm) with the contracts deployed at
# start, so the demo pays out with nothing else running (its state lasts as long as the process).
CHAIN_RPC_URL: str | None = None
# The chain id the node must report (refuse to sign for the wrong chain). None: take the node's.
CHAIN_ID: int | None = None
# Name of the environment variable holding the payout signer's private key. The key itself is
# never read from a config file, never logged and never stored.
CHAIN_SIGNER_KEY_ENV = "FAIRLABEL_SIGNER_KEY"
# Deployed contracts (production). The token may be any ERC-20, e.g. a stablecoin.
CHAIN_TOKEN_ADDRESS: str | None = None
CHAIN_DISTRIBUTOR_ADDRESS: str | None = None
# Blocks a payout or deposit must be buried under before it counts ("finalized" uses that tag).
CHAIN_CONFIRMATIONS: int | str = 2
# First block to scan for deposits to the platform wallet when none has been seen yet.
CHAIN_DEPOSIT_START_BLOCK = 0
# EIP-1559 fee cap in wei per gas: a payout is never signed above it (it waits instead).
CHAIN_MAX_FEE_PER_GAS = 500 * 10**9
# A broadcast transaction not mined after this long is re-signed with the same nonce and fees
# raised by at least 12.5% (nodes require ≥ 10% to replace).
CHAIN_STUCK_SECONDS = 120
# Wallets paid per push transaction, and the least available balance worth paying out.
PAYOUT_BATCH_SIZE = 200
MIN_PAYOUT = 100
# Run the payout worker (release holds, build epochs, send, confirm) as a thread of the web
# process, every PAYOUT_INTERVAL_SECONDS. Needed with the embedded chain, which lives in that
# process; in production run `flask rewards worker` as its own process instead.
RUN_WORKER_IN_PROCESS = False
PAYOUT_INTERVAL_SECONDS = 60
# Rate limits (flask-limiter). Counters live in RATELIMIT_STORAGE_URI: "memory://" keeps them per
# process (fine for one server); with several gunicorn workers or hosts use Redis, e.g.
# "redis://127.0.0.1:6379/0", so a client cannot multiply its allowance by the worker count.
RATELIMIT_ENABLED = True
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_HEADERS_ENABLED = True
# Password logins, sign-ups, and wallet sign-in messages and logins, per client address.
LOGIN_RATE_LIMIT = "10 per minute; 100 per hour"
SIGNUP_RATE_LIMIT = "5 per minute; 20 per hour; 50 per day"
SIWE_RATE_LIMIT = "20 per minute; 200 per hour"
# The job form's live preview, per client address: it re-parses the config as the requester types
# (debounced in the page to one request per ~400 ms of typing), so a generous cap that still stops
# a script from spending the server on config parsing.
PREVIEW_RATE_LIMIT = "240 per minute; 3000 per hour"
# How long the signed links to uploaded files in an export open (seconds; a week). They are
# capabilities: anyone holding one may fetch that file until it expires, without logging in.
EXPORT_MEDIA_LINK_SECONDS = 7 * 24 * 3600
# Sign-In with Ethereum: how long an issued sign-in message (and its nonce) lives.
SIWE_NONCE_SECONDS = 600
# The site's public origin, "https://fairlabel.example" (scheme, host and port; no path). Wallet
# sign-in messages name it, so it must come from here and never from a request's Host header.
# None: derived from SERVER_NAME (https in production, else PREFERRED_URL_SCHEME); in development http://127.0.0.1:5000 and
# in testing http://localhost. Production refuses to start without one of them.
PUBLIC_URL: str | None = None
# Reverse proxies in front of the app (e.g. 1 for one TLS-terminating nginx). Their
# X-Forwarded-For / -Proto are trusted that many hops deep (Werkzeug's ProxyFix), so rate limits
# key on the real client address. 0: trust no header (the app faces clients directly).
TRUSTED_PROXY_COUNT = 0
# argon2 cost overrides (time_cost, memory_cost in KiB, parallelism); empty = argon2-cffi's defaults.
PASSWORD_HASH_PARAMS: dict = {}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Cookies only over HTTPS. None: True in production, False in development and testing (plain
# http on 127.0.0.1). Set False in production only if TLS really ends elsewhere and you know why.
SESSION_COOKIE_SECURE: bool | None = None
# How long a login lasts (server-side: logout or a password change ends it at once).
SESSION_SECONDS = 30 * 24 * 3600
WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session: a long labeling session must not 400


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says which setting to fix."""


def validate_config(app: Flask) -> None:
    """Fail fast on settings that would make the platform unsafe or unusable."""
    env = app.config.get("ENV")
    if env not in {"development", "testing", "production"}:
        raise ConfigError(f"ENV must be development, testing or production, not {env!r}")
    if env == "production" and not app.config.get("SECRET_KEY"):
        raise ConfigError(
            "SECRET_KEY is not set. Set FLASK_SECRET_KEY in the environment or SECRET_KEY in "
            "instance/config.py (python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    _validate_money(app)
    _validate_payouts(app)
    _resolve_public_url(app)
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        app.config["SESSION_COOKIE_SECURE"] = env == "production"
    proxies = app.config.get("TRUSTED_PROXY_COUNT")
    if isinstance(proxies, bool) or not isinstance(proxies, int) or not 0 <= proxies <= 10:
        raise ConfigError(f"TRUSTED_PROXY_COUNT must be a whole number from 0 to 10, not {proxies!r}")
    for key in ("LEASE_SECONDS", "MAX_CONTENT_LENGTH", "MAX_ITEMS_PER_UPLOAD"):
        value = app.config.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{key} must be a positive integer, not {value!r}")


def _resolve_public_url(app: Flask) -> None:
    """Fix PUBLIC_URL to "scheme://host[:port]" from the settings alone (never a request)."""
    from urllib.parse import urlsplit

    config = app.config
    url = config.get("PUBLIC_URL")
    if not url and config.get("SERVER_NAME"):  # production serves https only (below)
        scheme = "https" if config["ENV"] == "production" else config.get("PREFERRED_URL_SCHEME") or "http"
        url = f"{scheme}://{config['SERVER_NAME']}"
    if not url:
        if config["ENV"] == "production":
            raise ConfigError(
                "PUBLIC_URL is not set. Set FLASK_PUBLIC_URL to the address users open, e.g. "
                "https://fairlabel.example (wallet sign-in messages name it), or set SERVER_NAME.")
        url = "http://127.0.0.1:5000" if config["ENV"] == "development" else "http://localhost"
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(f"PUBLIC_URL must look like https://host[:port], not {url!r}")
    if config["ENV"] == "production" and parts.scheme != "https":
        raise ConfigError(f"PUBLIC_URL must be https:// in production, not {url!r}")
    config["PUBLIC_URL"] = f"{parts.scheme}://{parts.netloc.lower()}"


def resolve_paths(app: Flask) -> None:
    """Fill the settings whose default lives under the instance folder."""
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "fairlabel.sqlite"
        )
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith(("postgres://", "postgresql://")):  # the usual URL form → our driver
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not app.config.get("MEDIA_ROOT"):
        app.config["MEDIA_ROOT"] = os.path.join(app.instance_path, "media")


def _validate_payouts(app: Flask) -> None:
    """A push batch must fit the per-transaction gas cap (the one formula, rewards/chain/gas.py)."""
    from rewards.chain import gas

    config = app.config
    size = config.get("PAYOUT_BATCH_SIZE")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= gas.MAX_PUSH_BATCH:
        raise ConfigError(
            f"PAYOUT_BATCH_SIZE must be a whole number from 1 to {gas.MAX_PUSH_BATCH}, not {size!r}: a push to "
            f"more wallets may need more than the {gas.MAX_TX_GAS:,} gas one transaction may use (EIP-7825).")
    minimum = config.get("MIN_PAYOUT")
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise ConfigError(f"MIN_PAYOUT must be a whole number of token units ≥ 1, not {minimum!r}")


def _validate_money(app: Flask) -> None:
    from decimal import Decimal, InvalidOperation

    config = app.config
    for key in ("PAY_FLOOR_PER_HOUR", "TOKEN_UNITS_PER_CURRENCY"):
        try:
            value = Decimal(str(config.get(key)))
        except InvalidOperation:
            raise ConfigError(f"{key} must be a decimal number, not {config.get(key)!r}") from None
        if not value.is_finite() or value < 0 or (key == "TOKEN_UNITS_PER_CURRENCY" and value == 0):
            raise ConfigError(f"{key} must be a positive decimal number, not {config.get(key)!r}")
    for key, low, high in (("PLATFORM_FEE_BPS", 0, 10_000), ("PAY_FLOOR_MIN_ANSWERS", 1, 10**6),
                           ("PAYOUT_HOLD_SECONDS", 0, 365 * 24 * 3600)):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{key} must be a whole number from {low} to {high}, not {value!r}")
