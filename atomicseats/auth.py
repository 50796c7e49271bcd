"""Who is calling, and may they: the API's bearer tokens, browser sessions, and role decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g, request
from flask_login import current_user

from atomicseats.accounts import tokens, users
from atomicseats.extensions import csrf, login_manager
from atomicseats.models import User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return users.load(int(user_id))


def api_user() -> User | None:
    """The caller of an API request: a bearer token, or else the browser's session.

    A session-authenticated write must carry the CSRF token (header ``X-CSRFToken``), because the
    browser sends the session cookie on its own; a bearer token cannot be sent by another site.
    """
    if "api_user" in g:
        return g.api_user
    user = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            abort(401, description="Authorization must be 'Bearer <token>'.")
        found = tokens.resolve(value.strip())
        if found is None:
            abort(401, description="The token is invalid, expired or revoked.")
        user, g.api_token_id = found
    elif current_user.is_authenticated:
        if request.method not in SAFE_METHODS:
            csrf.protect()
        user = current_user._get_current_object()
    g.api_user = user
    return user


def api_auth(*roles: str) -> Callable:
    """Require a signed-in API caller, with one of ``roles`` when given (admins pass every check)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            user = api_user()
            if user is None:
                abort(401, description="Sign in first: send 'Authorization: Bearer <token>'.")
            if roles and not user.has_role(*roles):
                abort(403, description=f"This needs the role {' or '.join(roles)}.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def role_required(*roles: str) -> Callable:
    """For web pages: sign in first (redirect), then one of ``roles`` (403)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and not current_user.has_role(*roles):
                abort(403, description=f"This page needs the role {' or '.join(roles)}.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
