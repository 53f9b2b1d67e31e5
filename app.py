"""mtkit application factory: config -> extensions -> plugins and clock -> features -> filters, CLI."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from core import cli
from core.audit_chain import seal as audit_seal
from core.api.blueprint import bp as api_bp
from core.config import default_config, load_key_ring, replica_binds
from core.extensions import csrf, db, htmx, login_manager, migrate
from core.kernel.files import PRIVATE_FILE, private_dir, tighten
from core.kernel.stores import check_storage_settings
from core.kernel.time import Clock
from core.ops import web as ops_web
from core.models.base import MAX_ID, Keys, bind_keys
from core.plugins import make_plugin_manager
from core.queue import setup as queue
from core.regions import Regions
from core.web import errors as web_errors
from core.web import filters, limits

ROOT = Path(__file__).resolve().parent


class IdConverter(IntegerConverter):
    """Record ids in URLs: 1 .. MAX_ID, so an absurd number is a 404 rather than a database error."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ID)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="templates", static_folder="static")
    private_dir(Path(app.instance_path))  # 0700: the SQLite file, keys, uploads and logs live below
    app.config.update(default_config(Path(app.instance_path)))
    if config:
        app.config.update(config)
    if app.config["MTKIT_PROXY_COUNT"]:
        # Behind nginx/haproxy: trust that many proxies for the client address (audit rows) and scheme.
        n = app.config["MTKIT_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    check_storage_settings(app.config)  # a misconfigured object store stops the start, not the first upload
    app.config["SQLALCHEMY_BINDS"] = {**app.config.get("SQLALCHEMY_BINDS", {}), **replica_binds(app.config)}

    db.init_app(app)
    # Encrypted columns (ID and phone numbers, addresses) use this app's key file.
    key_file, cipher = app.config["MTKIT_KEY_FILE"], app.config["MTKIT_CIPHER"]
    keys = Keys(load_key_ring(key_file, cipher), lambda: load_key_ring(key_file, cipher, create=False), key_file)
    app.extensions["mtkit_keys"] = keys
    with app.app_context():
        for engine in db.engines.values():  # the primary and, if configured, the read replica
            bind_keys(engine, keys)
    with app.app_context():  # audit rows written through this app's database are signed with its audit key
        for engine in db.engines.values():
            audit_seal.bind(engine, app.config)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    # Flask-Login's own check (a hash of IP and User-Agent in the signed cookie) only strips the
    # copy that fails it; server-side sessions are bound to their browser instead and end for good
    # (core/people/sessions.py), and a changing mobile IP does not log people out.
    login_manager.session_protection = None

    # Plugins are built per app, never at import time, so tests can build apps with other plugins.
    pm = make_plugin_manager(app.config["MTKIT_REGIONS"], app.config.get("MTKIT_EXTRA_PLUGINS", ()))
    regions = Regions(pm)
    clock = Clock(app.config, regions.default_timezone)
    app.extensions.update(mtkit_pm=pm, mtkit_regions=regions, mtkit_clock=clock)
    # Stop start-up on bad region data (duplicate codes, missing catalogue) rather than mid-request.
    regions.check(clock.today(regions.default_timezone).year)
    # Region templates (regions/<name>/templates/<name>/...) join the app's loader.
    app.jinja_loader = ChoiceLoader([app.jinja_loader, FileSystemLoader(regions.template_folders())])

    app.url_map.converters["id"] = IdConverter
    _register_features(app)
    queue.init_app(app)  # Huey: SQLite in the instance folder unless MTKIT_QUEUE_URL names Redis
    limits.init_app(app)  # per-client request limits on log-in, registration, verification, uploads
    ops_web.init_app(app)  # request timing for /metrics; /readyz and /metrics exempt from limits
    web_errors.init_app(app)
    filters.init_app(app)
    cli.init_app(app)
    return app


def _register_features(app: Flask) -> None:
    """Every feature's pages, then the JSON API with every feature's handlers."""
    from core.applications import api as applications_api  # noqa: F401
    from core.applications import web as applications_web
    from core.api import openapi, reference  # noqa: F401  (routes on the API blueprint)
    from core.benefits import api as benefits_api  # noqa: F401
    from core.benefits import web as benefits_web
    from core.calendar import web as calendar_web
    from core.documents import web as documents_web
    from core.nhsa import web as nhsa_web
    from core.notices import api as notices_api  # noqa: F401
    from core.notices import web as notices_web
    from core.people import api as people_api  # noqa: F401
    from core.people import web as people_web
    from core.people import window
    from core.recognitions import api as recognitions_api  # noqa: F401
    from core.recognitions import web as recognitions_web
    from core.queue import web as tasks_web
    from core.recoveries import web as recoveries_web
    from core.staff import web as staff_web
    from core.web import public

    for bp in (public.bp, ops_web.bp, people_web.bp, people_web.account, people_web.users, window.bp, applications_web.bp, recognitions_web.bp,
               staff_web.bp, calendar_web.bp, notices_web.bp, tasks_web.bp, documents_web.bp, benefits_web.bp, recoveries_web.bp, nhsa_web.bp):
        app.register_blueprint(bp)
    app.register_blueprint(api_bp)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: WAL for concurrent readers, a busy timeout instead of 'database is locked', FKs on."""
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        # The database file 0600 before WAL starts: SQLite gives -wal and -shm the file's mode.
        for _, name, path in cursor.execute("PRAGMA database_list").fetchall():
            if path and name == "main":
                for p in (path, path + "-wal", path + "-shm"):
                    tighten(Path(p), PRIVATE_FILE)
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
