"""mtkit application factory: config -> extensions -> plugin manager -> blueprints."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from core import cli, filters
from core.extensions import csrf, db, htmx, login_manager, migrate
from core.config import default_config
from core.plugins import make_plugin_manager
from core.regions import Regions
from core.services.calendar import local_today

ROOT = Path(__file__).resolve().parent


class IdConverter(IntegerConverter):
    """Record ids in URLs: 1 .. MAX_ID, so an absurd number is a 404 rather than a database error."""

    def __init__(self, url_map):
        from core.views import MAX_ID

        super().__init__(url_map, min=1, max=MAX_ID)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="templates", static_folder="static")
    app.config.update(default_config(Path(app.instance_path)))
    if config:
        app.config.update(config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    # Plugins are built per app, never at import time, so tests can build apps with other plugins.
    pm = make_plugin_manager(app.config["MTKIT_REGIONS"], app.config.get("MTKIT_EXTRA_PLUGINS", ()))
    app.extensions["mtkit_pm"] = pm
    app.extensions["mtkit_regions"] = Regions(pm)
    # Stop start-up on bad region data (duplicate codes, missing catalogue) rather than mid-request.
    app.extensions["mtkit_regions"].check(local_today().year)
    # Region template folders (regions/<code>/templates/<code>/...) join the app's loader.
    _add_region_templates(app, pm)

    app.url_map.converters["id"] = IdConverter
    from core.views import register_blueprints

    register_blueprints(app)
    filters.init_app(app)
    cli.init_app(app)
    return app


def _add_region_templates(app: Flask, pm) -> None:
    from jinja2 import ChoiceLoader, FileSystemLoader

    folders = []
    for plugin in pm.get_plugins():
        module_file = getattr(plugin, "__file__", None)
        if module_file:
            folder = Path(module_file).parent / "templates"
            if folder.is_dir():
                folders.append(str(folder))
    if folders:
        app.jinja_loader = ChoiceLoader([app.jinja_loader, FileSystemLoader(folders)])


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: WAL for concurrent readers, a busy timeout instead of 'database is locked', FKs on."""
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
