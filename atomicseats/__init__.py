"""AtomicSeats: an application factory in the style of Flask's tutorial and microblog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from atomicseats import security
from atomicseats.config import DEFAULT_SECRET, Config, config_from_env
from atomicseats.extensions import (
    booking_ext,
    csrf,
    db,
    kafka_ext,
    limiter,
    login_manager,
    mail,
    migrate,
    redis_ext,
)

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_class: type[Config] | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config_class or config_from_env())
    if overrides:
        app.config.update(overrides)
    _check_secrets(app)
    _configure_logging(app)
    security.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def _check_secrets(app: Flask) -> None:
    if app.config["ENV_NAME"] == "production" and app.config["SECRET_KEY"] in (None, "", DEFAULT_SECRET):
        raise RuntimeError("SECRET_KEY must be set to a random value in production.")


def _configure_logging(app: Flask) -> None:
    """JSON lines with the request id (atomicseats/logs.py), in every process that creates the app."""
    from atomicseats import logs

    logs.configure()
    logs.init_app(app)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    mail.init_app(app)
    redis_ext.init_app(app)
    booking_ext.init_app(app)
    kafka_ext.init_app(app)
    prefix = app.config["REDIS_PREFIX"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", prefix + "limits")
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)


def register_blueprints(app: Flask) -> None:
    from atomicseats import (
        auth,  # noqa: F401  (registers the Flask-Login user loader)
        metrics,
    )
    from atomicseats.admin import bp as admin_bp
    from atomicseats.api import bp as api_bp
    from atomicseats.api.openapi import docs_bp as api_docs_bp
    from atomicseats.host import bp as host_bp
    from atomicseats.ops import bp as ops_bp
    from atomicseats.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(host_bp, url_prefix="/host")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(ops_bp)
    app.register_blueprint(api_docs_bp)
    metrics.init_app(app)
    csrf.exempt(api_bp)  # the API checks CSRF itself for cookie-authenticated writes (see auth.api_user)


def register_errorhandlers(app: Flask) -> None:
    from atomicseats.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from atomicseats.cli import register

    register(app)
