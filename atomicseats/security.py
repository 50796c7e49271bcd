"""Security headers on every response (Flask-Talisman) and the request body limit.

The policy allows this site's own scripts, styles and connections only, plus the realtime process when it
runs on another origin (``REALTIME_URL``): no template has an inline script or style attribute, so no
``'unsafe-inline'`` and no nonces are needed. Nothing may frame a page (``frame-ancestors 'none'`` and
``X-Frame-Options: DENY``), against clickjacking a checkout. HSTS is sent by the production config only, and
only on HTTPS requests (or ``X-Forwarded-Proto: https`` from the proxy that terminates TLS, which also
redirects plain HTTP: Talisman's own redirect is off, as it would answer the load balancer's health checks
with a 302).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_talisman import DENY, Talisman
from werkzeug.exceptions import RequestEntityTooLarge

WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss"}


def content_security_policy(realtime_url: str = "") -> dict[str, str]:
    """The CSP directives; a realtime process on another origin is added to ``connect-src`` (HTTP and WebSocket)."""
    connect = ["'self'"]
    if realtime_url:
        url = urlsplit(realtime_url)
        connect += [f"{url.scheme}://{url.netloc}", f"{WEBSOCKET_SCHEMES[url.scheme]}://{url.netloc}"]
    return {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",  # Swagger UI's icons are data: URIs
        "font-src": "'self'",
        "connect-src": " ".join(connect),
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def refuse_large_body() -> None:
    """413 from the declared length, before any view, auth check or parser reads a byte of the body.

    Werkzeug enforces ``MAX_CONTENT_LENGTH`` itself only once something reads the body; a body sent without a
    length (chunked) is cut off there, when the read passes the limit.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"The request body is larger than the {limit} bytes allowed.")


def init_app(app: Flask) -> None:
    """Install the body limit and the headers; one Talisman per app, as it keeps its settings on itself."""
    app.before_request(refuse_large_body)
    app.extensions["talisman"] = Talisman(
        app,
        force_https=False,
        frame_options=DENY,
        strict_transport_security=app.config["HSTS_ENABLED"],
        content_security_policy=content_security_policy(app.config["REALTIME_URL"]),
        referrer_policy="same-origin",
        session_cookie_secure=app.config.get("SESSION_COOKIE_SECURE", False),
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
