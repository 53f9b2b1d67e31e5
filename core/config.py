"""Configuration defaults; every value can be overridden by environment variables or create_app(config)."""
from __future__ import annotations

import json
import logging
import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core.kernel.crypto import BadKeyFile, KeyRing, new_ring
from core.kernel.files import PRIVATE_FILE, tighten, write_private

log = logging.getLogger(__name__)


def _generated_once(key_file: Path) -> str:
    """A random value kept in ``key_file`` (0600), written once even when workers start together."""
    if not key_file.exists():
        write_private(key_file, secrets.token_hex(32).encode(), exclusive=True)
    tighten(key_file, PRIVATE_FILE)
    return key_file.read_text().strip()


def _secret_key(instance_path: Path) -> str:
    """Use MTKIT_SECRET_KEY, else a key generated once and kept in the instance folder (never in git)."""
    if os.environ.get("MTKIT_SECRET_KEY"):
        return os.environ["MTKIT_SECRET_KEY"]
    return _generated_once(instance_path / "secret_key")


def _verification_key(instance_path: Path) -> str:
    """Signs verification codes on printed notices. Separate from SECRET_KEY so that rotating the
    session key (after a leak, say) does not make every notice already on paper unverifiable."""
    if os.environ.get("MTKIT_VERIFICATION_KEY"):
        return os.environ["MTKIT_VERIFICATION_KEY"]
    return _generated_once(instance_path / "verification_key")


def load_key_ring(path: str | Path, algorithm: str, *, create: bool = True) -> KeyRing:
    """The field-encryption keys (see core/kernel/crypto.py) from the key file, MTKIT_KEY_FILE
    (default instance/keys.json). On first start (``create``) a file with one ``algorithm`` key and
    a look-up key is generated, 0600. The file must live outside the database and be backed up
    separately: without it the encrypted columns cannot be read."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise BadKeyFile(f"key file {path} is missing")
        ring = new_ring(algorithm, created=_now())
        if write_private(path, _dump(ring), exclusive=True):
            log.warning("generated a new encryption key file %s: back it up apart from the database", path)
    tighten(path, PRIVATE_FILE)
    try:
        return KeyRing.from_json(json.loads(path.read_text("utf-8")))
    except ValueError as e:
        raise BadKeyFile(f"key file {path}: {e}") from None


def save_key_ring(path: str | Path, ring: KeyRing) -> None:
    """Replace the key file as a whole (0600)."""
    write_private(Path(path), _dump(ring))


def _dump(ring: KeyRing) -> bytes:
    return (json.dumps(ring.to_json(), indent=2) + "\n").encode("utf-8")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _audit_key(instance_path: Path) -> str:
    """Keys the audit chain (HMAC): someone who can write to the database but has not got this key
    cannot rewrite audit rows unnoticed. Several keys, one per line (or comma separated): the first
    signs new rows, the others only verify older rows (key rotation)."""
    if os.environ.get("MTKIT_AUDIT_KEY"):
        return os.environ["MTKIT_AUDIT_KEY"]
    key_file = instance_path / "audit_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32) + "\n")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _engine_options(database_url: str) -> dict:
    options: dict = {"pool_pre_ping": True}
    # MTKIT_PGBOUNCER=transaction: PgBouncer in transaction mode hands each transaction any server
    # connection, where a statement psycopg 3 prepared on another one does not exist. Turn psycopg's
    # prepared statements off (not needed with PgBouncer >= 1.21 and max_prepared_statements > 0).
    if database_url.startswith("postgresql") and os.environ.get("MTKIT_PGBOUNCER") == "transaction":
        options["connect_args"] = {"prepare_threshold": None}
    return options


def _psycopg_url(url: str) -> str:
    if url.startswith("postgres://"):  # old-style URL from some hosting panels
        return "postgresql+psycopg://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def replica_binds(config: dict) -> dict:
    """SQLALCHEMY_BINDS for MTKIT_REPLICA_DATABASE_URL (a read replica for reports, core/replica.py)."""
    url = config.get("MTKIT_REPLICA_DATABASE_URL")
    if not url:
        return {}
    url = _psycopg_url(url)
    return {"replica": {"url": url, **_engine_options(url)}}


def default_config(instance_path: Path) -> dict:
    database_url = _psycopg_url(os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'mtkit.sqlite3'}")
    regions = os.environ.get("MTKIT_REGIONS", "").strip()
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "MTKIT_VERIFICATION_KEY": _verification_key(instance_path),
        "MTKIT_AUDIT_KEY": _audit_key(instance_path),
        "MTKIT_AUDIT_HASH": os.environ.get("MTKIT_AUDIT_HASH", "sha256"),  # or "sm3" (GB/T 32905)
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(database_url),
        # A streaming replica of the database for report and export reads only (core/replica.py).
        "MTKIT_REPLICA_DATABASE_URL": os.environ.get("MTKIT_REPLICA_DATABASE_URL", ""),
        "MTKIT_REGIONS": [c.strip() for c in regions.split(",") if c.strip()] or None,
        "MTKIT_UPLOAD_DIR": os.environ.get("MTKIT_UPLOAD_DIR", str(instance_path / "uploads")),
        "MTKIT_MAX_FILE_BYTES": int(os.environ.get("MTKIT_MAX_FILE_BYTES", 10 * 1024 * 1024)),
        # All current files of one application together (a region may ask for many pages of records).
        "MTKIT_MAX_APPLICATION_BYTES": int(os.environ.get("MTKIT_MAX_APPLICATION_BYTES", 60 * 1024 * 1024)),
        # Photos larger than this many pixels are refused (Pillow's own bomb limit is ~89 million).
        "MTKIT_MAX_IMAGE_PIXELS": int(os.environ.get("MTKIT_MAX_IMAGE_PIXELS", 40_000_000)),
        "MTKIT_MAX_PDF_PAGES": int(os.environ.get("MTKIT_MAX_PDF_PAGES", 200)),
        # Decoding budget (core/applications/budget.py): the pixels of all images of one request
        # (ten 12.5-megapixel phone photos), uploads checked at once per account, uploads decoding
        # at once on the whole machine (keep it below the worker count), and how long one waits.
        "MTKIT_MAX_REQUEST_PIXELS": int(os.environ.get("MTKIT_MAX_REQUEST_PIXELS", 125_000_000)),
        "MTKIT_UPLOADS_PER_ACCOUNT": int(os.environ.get("MTKIT_UPLOADS_PER_ACCOUNT", 1)),
        "MTKIT_UPLOAD_DECODERS": int(os.environ.get("MTKIT_UPLOAD_DECODERS", max(1, (os.cpu_count() or 2) // 2))),
        "MTKIT_UPLOAD_WAIT_SECONDS": float(os.environ.get("MTKIT_UPLOAD_WAIT_SECONDS", 10)),
        "MTKIT_LOCK_DIR": os.environ.get("MTKIT_LOCK_DIR", str(instance_path / "locks")),
        "MTKIT_MAX_FILES_PER_UPLOAD": int(os.environ.get("MTKIT_MAX_FILES_PER_UPLOAD", 10)),
        # Object storage for uploads (core/kernel/objectstore.py): local (MTKIT_UPLOAD_DIR) or s3.
        # S3 credentials come the standard AWS way (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role).
        "MTKIT_STORAGE": os.environ.get("MTKIT_STORAGE", "local"),
        "MTKIT_S3_BUCKET": os.environ.get("MTKIT_S3_BUCKET", ""),
        "MTKIT_S3_PREFIX": os.environ.get("MTKIT_S3_PREFIX", ""),
        "MTKIT_S3_ENDPOINT_URL": os.environ.get("MTKIT_S3_ENDPOINT_URL", ""),
        "MTKIT_S3_REGION": os.environ.get("MTKIT_S3_REGION", ""),
        # Downloads from S3: 0 = streamed by the app; N = after the access check and audit, a 302 to a
        # presigned GET valid N seconds (the bucket's address must be reachable by browsers).
        "MTKIT_S3_PRESIGN_SECONDS": int(os.environ.get("MTKIT_S3_PRESIGN_SECONDS", "0") or 0),
        "MTKIT_PREVIEW_DIR": os.environ.get("MTKIT_PREVIEW_DIR", str(instance_path / "previews")),
        "MTKIT_PREVIEW_FILES": int(os.environ.get("MTKIT_PREVIEW_FILES", 5000)),
        # Page images of an uploaded PDF are rendered by the worker right after the upload commits
        # (the first N pages), so a reviewer's page finds them ready; later pages render on first view.
        "MTKIT_PREVIEWS_AHEAD": os.environ.get("MTKIT_PREVIEWS_AHEAD", "1") == "1",
        "MTKIT_PREVIEW_AHEAD_PAGES": int(os.environ.get("MTKIT_PREVIEW_AHEAD_PAGES", 10)),
        "MTKIT_PDF_CACHE_DIR": os.environ.get("MTKIT_PDF_CACHE_DIR", str(instance_path / "pdf-cache")),
        # Files the worker made for a user (letter batches); ``results/`` in the bucket under S3.
        "MTKIT_RESULT_DIR": os.environ.get("MTKIT_RESULT_DIR", str(instance_path / "results")),
        # They hold names and addresses and can be made again: deleted this many days after they were
        # made (the daily result_purge job; 0 keeps them).
        "MTKIT_RESULT_DAYS": int(os.environ.get("MTKIT_RESULT_DAYS", 7)),
        "MTKIT_PDF_CACHE_FILES": int(os.environ.get("MTKIT_PDF_CACHE_FILES", 2000)),
        # Where verification QR codes point; empty: the address the notice was downloaded from.
        "MTKIT_PUBLIC_URL": os.environ.get("MTKIT_PUBLIC_URL", "").rstrip("/"),
        # Reverse proxies in front of the app (nginx, haproxy): how many to trust for the client's
        # address (audit rows) and the scheme/host (ProxyFix). 0: the app faces clients directly.
        "MTKIT_PROXY_COUNT": int(os.environ.get("MTKIT_PROXY_COUNT", 0)),
        # Strict-Transport-Security max-age on HTTPS responses (0: off). Turn on only once the site is
        # served over HTTPS for good, e.g. 31536000 (a year): browsers then refuse plain HTTP to it.
        "MTKIT_HSTS_SECONDS": int(os.environ.get("MTKIT_HSTS_SECONDS", 0)),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MTKIT_MAX_REQUEST_BYTES", 25 * 1024 * 1024)),
        "MTKIT_PAGE_SIZE": 20,
        # API bearer tokens live this long (a channel app logs in again; no refresh tokens).
        "MTKIT_API_TOKEN_MINUTES": int(os.environ.get("MTKIT_API_TOKEN_MINUTES", 30)),
        # A repeated form or API call (same one-time key / Idempotency-Key) answers with the first
        # result for this many hours; after that the key may be used again.
        "MTKIT_IDEMPOTENCY_HOURS": int(os.environ.get("MTKIT_IDEMPOTENCY_HOURS", 24)),
        # Log-in throttling (core/people/login.py): failures per account and client, then a wait that
        # doubles with each block; clients that never signed in to the account share a larger budget.
        "MTKIT_LOCKOUT_ATTEMPTS": int(os.environ.get("MTKIT_LOCKOUT_ATTEMPTS", 5)),
        "MTKIT_LOCKOUT_MINUTES": int(os.environ.get("MTKIT_LOCKOUT_MINUTES", 15)),
        "MTKIT_LOCKOUT_MAX_MINUTES": int(os.environ.get("MTKIT_LOCKOUT_MAX_MINUTES", 24 * 60)),
        "MTKIT_LOCKOUT_ACCOUNT_ATTEMPTS": int(os.environ.get("MTKIT_LOCKOUT_ACCOUNT_ATTEMPTS", 50)),
        "MTKIT_LOCKOUT_RESET_HOURS": int(os.environ.get("MTKIT_LOCKOUT_RESET_HOURS", 24)),
        # 等保: idle sessions end after 30 minutes (checked on the server, core/people/sessions.py);
        # every session also ends this many hours after log-in, however active.
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=int(os.environ.get("MTKIT_SESSION_MINUTES", 30))),
        "MTKIT_SESSION_ABSOLUTE_HOURS_STAFF": float(os.environ.get("MTKIT_SESSION_ABSOLUTE_HOURS_STAFF", 12)),
        "MTKIT_SESSION_ABSOLUTE_HOURS_INSURED": float(os.environ.get("MTKIT_SESSION_ABSOLUTE_HOURS_INSURED", 8)),
        # Per-client request limits (Flask-Limiter, core/web/limits.py): on unless MTKIT_RATELIMIT=0.
        # Memory storage counts per worker process; give several workers or hosts one Redis.
        "RATELIMIT_ENABLED": os.environ.get("MTKIT_RATELIMIT", "1") != "0",
        "RATELIMIT_STORAGE_URI": os.environ.get("MTKIT_RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "MTKIT_LIMIT_LOGIN": os.environ.get("MTKIT_LIMIT_LOGIN", "20/minute;200/hour"),
        "MTKIT_LIMIT_REGISTER": os.environ.get("MTKIT_LIMIT_REGISTER", "5/minute;30/hour"),
        "MTKIT_LIMIT_VERIFY": os.environ.get("MTKIT_LIMIT_VERIFY", "30/minute;300/hour"),
        "MTKIT_LIMIT_UPLOAD": os.environ.get("MTKIT_LIMIT_UPLOAD", "30/minute;300/hour"),
        # The cookie's expiry moves on when the server records the session's use (at most once a
        # minute, core/people/sessions.py), not on every response: the browser forgets an idle
        # session's cookie between 29 and 30 minutes; the server ends the session itself either way.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("MTKIT_SECURE_COOKIES") == "1",
        "REMEMBER_COOKIE_DURATION": timedelta(minutes=30),
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead, which already times out
        "MTKIT_TODAY": None,  # tests and demos may pin "today" (a date)
        # Background work (core/queue): empty = SQLite file instance/queue.sqlite3; or redis://host:6379/0.
        "MTKIT_QUEUE_URL": os.environ.get("MTKIT_QUEUE_URL", ""),
        "MTKIT_QUEUE_IMMEDIATE": os.environ.get("MTKIT_QUEUE_IMMEDIATE", "0") == "1",
        # SMS a commit queued go to the worker at once (0: only the per-minute sweep sends them).
        "MTKIT_SMS_AT_COMMIT": os.environ.get("MTKIT_SMS_AT_COMMIT", "1") == "1",
        "MTKIT_SMS_LOG": os.environ.get("MTKIT_SMS_LOG", str(instance_path / "sms.log")),
        # Field encryption (ID and phone numbers, addresses): the key file, kept off the database
        # server and backed up apart from it, and the algorithm of keys generated (first start,
        # `flask keys rotate`): AES-256-GCM or SM4-GCM.
        "MTKIT_KEY_FILE": os.environ.get("MTKIT_KEY_FILE", str(instance_path / "keys.json")),
        "MTKIT_CIPHER": os.environ.get("MTKIT_CIPHER", "AES-256-GCM"),
        "MTKIT_HTMX_JS": os.environ.get("MTKIT_HTMX_JS", ""),
        # /metrics (core/ops/web.py): answered to these networks, or to a bearer token; others get 404.
        "MTKIT_METRICS_ALLOW": os.environ.get("MTKIT_METRICS_ALLOW", "127.0.0.1/32,::1/128"),
        "MTKIT_METRICS_TOKEN": os.environ.get("MTKIT_METRICS_TOKEN", ""),
    }
