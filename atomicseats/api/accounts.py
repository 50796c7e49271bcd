"""Registration, tokens and the current user."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from flask import current_app, g, jsonify, request
from flask_login import logout_user
from pydantic import EmailStr, Field

from atomicseats.accounts import tokens, users
from atomicseats.api import bp
from atomicseats.api.common import created, json_body
from atomicseats.auth import api_auth, api_user
from atomicseats.booking.idempotency import IdempotencyRequest
from atomicseats.booking.specs import Spec
from atomicseats.errors import error_response
from atomicseats.extensions import limiter


class RegisterBody(Spec):
    email: EmailStr
    name: Annotated[str, Field(min_length=1, max_length=120)]
    password: Annotated[str, Field(min_length=users.MIN_PASSWORD_LENGTH, max_length=200)]
    role: Literal["attendee", "host"] = "attendee"


class TokenBody(Spec):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.post("/auth/register")
@limiter.limit(_login_limit)
def register():
    body = json_body(RegisterBody)
    # The password enters the fingerprint only as an HMAC: a stored plain SHA-256 of it could be brute-forced.
    secret = current_app.config["SECRET_KEY"].encode()
    fingerprinted = {**body.model_dump(), "password": hmac.new(secret, body.password.encode(), "sha256").hexdigest()}
    idempotency = IdempotencyRequest.build(
        None, request.headers.get("Idempotency-Key"), "POST /auth/register", fingerprinted
    )
    return created(users.sign_up(body.email, body.name, body.password, body.role, idempotency=idempotency))


@bp.post("/auth/token")
@limiter.limit(_login_limit)
def issue_token():
    body = json_body(TokenBody)
    user = users.authenticate(body.email, body.password)
    if user is None:
        return error_response(401, "invalid_credentials", "Wrong email or password.")
    ttl = current_app.config["API_TOKEN_TTL_SECONDS"]
    plain, _ = tokens.issue(user, ttl)
    return jsonify({"access_token": plain, "token_type": "Bearer", "expires_in": ttl})


@bp.delete("/auth/token")
@api_auth()
def revoke_token():
    """End the credential the request came with: its bearer token, or else the browser session it signs out.

    A session's API writes carry its CSRF token (``auth.api_user``), so no other site can sign anyone out.
    """
    token_id = g.get("api_token_id")
    if token_id is None:
        logout_user()
        return "", 204
    tokens.revoke(token_id)
    return "", 204


@bp.get("/me")
@api_auth()
def me():
    return jsonify(api_user().to_dict())
