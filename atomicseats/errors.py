"""The one place where errors become HTTP: SPEC's JSON shape under /api, pages elsewhere."""

from __future__ import annotations

from typing import Any

import psycopg2
import redis
import sqlalchemy.exc
from flask import Flask, Response, flash, jsonify, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from atomicseats.exceptions import Busy, Conflict, DomainError, Expired, Forbidden, Invalid, NotFound
from atomicseats.extensions import db, limiter
from atomicseats.ratelimit import seconds_until_reset

# A dependency that cannot be reached right now: the request gets a clean 503 instead of a 500 or a hang.
OUTAGE_ERRORS = (
    sqlalchemy.exc.OperationalError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,  # "connection already closed", from the hot path's statements (atomicseats/dbapi.py)
    redis.ConnectionError,
    redis.TimeoutError,
)
OUTAGE_RETRY_AFTER_SECONDS = 5

STATUS_BY_KIND: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Expired: 410,
    Invalid: 422,
    Busy: 503,
}

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict | None = None
) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def status_for(error: DomainError) -> int:
    for kind, status in STATUS_BY_KIND.items():
        if isinstance(error, kind):
            return status
    return 400


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        status = status_for(error)
        if wants_json():
            headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
            return error_response(status, error.code, error.message, error.details, headers)
        flash(error.message, "error")
        return redirect(request.referrer or "/")

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        if wants_json():
            return error_response(400, "csrf_failed", error.description)
        return render_template("error.html", status=400, message=error.description), 400

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        headers = {}
        if status == 429:
            # atomicseats.ratelimit says when; Flask-Limiter's own 429s leave it to its current limit
            retry_after = getattr(error, "retry_after", None) or _retry_after()
            headers["Retry-After"] = str(retry_after)
            message = f"Too many requests; try again in {retry_after} s."
        else:
            message = error.description or error.name
        if status == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        if wants_json():
            return error_response(status, CODE_BY_STATUS.get(status, "http_error"), message, headers=headers)
        response = Response(
            render_template("error.html", status=status, message=message), status=status, headers=headers
        )
        return response

    def handle_outage(error: Exception):
        """503 + Retry-After; the page is plain text because the site template itself reads the database."""
        app.logger.warning("service unavailable on %s %s: %s", request.method, request.path, error)
        message = "A service this request needs is unavailable; try again shortly."
        headers = {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)}
        if wants_json():
            return error_response(503, "service_unavailable", message, headers=headers)
        return Response(message, status=503, headers=headers, mimetype="text/plain")

    for kind in OUTAGE_ERRORS:
        app.register_error_handler(kind, handle_outage)

    @app.teardown_appcontext
    def release_session(_error: BaseException | None) -> None:
        """Give the connection back before Flask-SQLAlchemy's own teardown (teardowns run last-registered first):
        if PostgreSQL went away after the answer was made, the rollback fails, and that must not turn the
        answer into gunicorn's bare 500. The pool discards the dead connection."""
        try:
            db.session.remove()
        except OUTAGE_ERRORS as exc:
            app.logger.warning("dropped a session whose database connection died: %s", exc)
            db.session.registry.clear()

    @app.after_request
    def release_session_once_answered(response: Response) -> Response:
        """The answer is made: give the connection back before the other after-request hooks (the access log,
        security headers, metrics; registered earlier, so run later). During a sale every pooled connection was
        taken, and the requests waiting for one also waited for these hooks of the requests holding one."""
        release_session(None)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return error_response(500, "internal_error", "Something went wrong on our side.")
        return render_template("error.html", status=500, message="Something went wrong on our side."), 500


def _retry_after() -> int:
    """Whole seconds until the rate-limit window that was hit resets (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 60
    # Flask-Limiter's reset_at is int(window end + 1): the window's own reset time, clamped to the window.
    return seconds_until_reset(current.limit, current.window.reset_time)
