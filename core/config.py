"""Configuration defaults; every value can be overridden by environment variables or create_app(config)."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path


def _secret_key(instance_path: Path) -> str:
    """Use MTKIT_SECRET_KEY, else a key generated once and kept in the instance folder (never in git)."""
    if os.environ.get("MTKIT_SECRET_KEY"):
        return os.environ["MTKIT_SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _verification_key(instance_path: Path) -> str:
    """Signs verification codes on printed notices. Separate from SECRET_KEY so that rotating the
    session key (after a leak, say) does not make every notice already on paper unverifiable."""
    if os.environ.get("MTKIT_VERIFICATION_KEY"):
        return os.environ["MTKIT_VERIFICATION_KEY"]
    key_file = instance_path / "verification_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def default_config(instance_path: Path) -> dict:
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'mtkit.sqlite3'}"
    if database_url.startswith("postgres://"):  # old-style URL from some hosting panels
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    regions = os.environ.get("MTKIT_REGIONS", "").strip()
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "MTKIT_VERIFICATION_KEY": _verification_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MTKIT_REGIONS": [c.strip() for c in regions.split(",") if c.strip()] or None,
        "MTKIT_UPLOAD_DIR": os.environ.get("MTKIT_UPLOAD_DIR", str(instance_path / "uploads")),
        "MTKIT_MAX_FILE_BYTES": int(os.environ.get("MTKIT_MAX_FILE_BYTES", 10 * 1024 * 1024)),
        # All current files of one application together (a region may ask for many pages of records).
        "MTKIT_MAX_APPLICATION_BYTES": int(os.environ.get("MTKIT_MAX_APPLICATION_BYTES", 60 * 1024 * 1024)),
        # Photos larger than this many pixels are refused (Pillow's own bomb limit is ~89 million).
        "MTKIT_MAX_IMAGE_PIXELS": int(os.environ.get("MTKIT_MAX_IMAGE_PIXELS", 40_000_000)),
        "MTKIT_MAX_PDF_PAGES": int(os.environ.get("MTKIT_MAX_PDF_PAGES", 200)),
        "MTKIT_MAX_FILES_PER_UPLOAD": int(os.environ.get("MTKIT_MAX_FILES_PER_UPLOAD", 10)),
        "MTKIT_PREVIEW_DIR": os.environ.get("MTKIT_PREVIEW_DIR", str(instance_path / "previews")),
        "MTKIT_PREVIEW_FILES": int(os.environ.get("MTKIT_PREVIEW_FILES", 5000)),
        "MTKIT_PDF_CACHE_DIR": os.environ.get("MTKIT_PDF_CACHE_DIR", str(instance_path / "pdf-cache")),
        "MTKIT_PDF_CACHE_FILES": int(os.environ.get("MTKIT_PDF_CACHE_FILES", 2000)),
        # Where verification QR codes point; empty: the address the notice was downloaded from.
        "MTKIT_PUBLIC_URL": os.environ.get("MTKIT_PUBLIC_URL", "").rstrip("/"),
        # Reverse proxies in front of the app (nginx, haproxy): how many to trust for the client's
        # address (audit rows) and the scheme/host (ProxyFix). 0: the app faces clients directly.
        "MTKIT_PROXY_COUNT": int(os.environ.get("MTKIT_PROXY_COUNT", 0)),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MTKIT_MAX_REQUEST_BYTES", 25 * 1024 * 1024)),
        "MTKIT_PAGE_SIZE": 20,
        # API bearer tokens live this long (a channel app logs in again; no refresh tokens).
        "MTKIT_API_TOKEN_MINUTES": int(os.environ.get("MTKIT_API_TOKEN_MINUTES", 30)),
        # A repeated form or API call (same one-time key / Idempotency-Key) answers with the first
        # result for this many hours; after that the key may be used again.
        "MTKIT_IDEMPOTENCY_HOURS": int(os.environ.get("MTKIT_IDEMPOTENCY_HOURS", 24)),
        "MTKIT_LOCKOUT_ATTEMPTS": 5,
        "MTKIT_LOCKOUT_MINUTES": 15,
        # 等保: idle sessions end after 30 minutes; the session is refreshed on every request.
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=int(os.environ.get("MTKIT_SESSION_MINUTES", 30))),
        "SESSION_REFRESH_EACH_REQUEST": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("MTKIT_SECURE_COOKIES") == "1",
        "REMEMBER_COOKIE_DURATION": timedelta(minutes=30),
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead, which already times out
        "MTKIT_TODAY": None,  # tests and demos may pin "today" (a date)
        "MTKIT_SMS_LOG": os.environ.get("MTKIT_SMS_LOG", str(instance_path / "sms.log")),
        "MTKIT_HTMX_JS": os.environ.get("MTKIT_HTMX_JS", ""),
    }
