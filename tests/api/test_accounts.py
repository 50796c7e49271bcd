"""Registration, tokens, roles and the error shape of the account endpoints."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from atomicseats import create_app
from atomicseats.config import DEFAULT_SECRET, ProductionConfig
from atomicseats.extensions import db
from atomicseats.models import ApiToken, User
from tests.factories import PASSWORD
from tests.web.test_pages import csrf_of, sign_in


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status == status, response.body
    error = response.body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_register_creates_an_attendee_and_never_returns_the_password(api, app):
    r = api.post("/auth/register", json={"email": "Ann@Example.com", "name": "Ann", "password": PASSWORD})
    assert r.status == 201
    assert r.body["email"] == "ann@example.com"
    assert r.body["role"] == "attendee"
    assert "password" not in str(r.body)
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.email == "ann@example.com"))
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_register_as_host_is_allowed_but_admin_is_not(api, app):
    assert (
        api.post(
            "/auth/register", json={"email": "h@example.com", "name": "H", "password": PASSWORD, "role": "host"}
        ).body["role"]
        == "host"
    )
    error = assert_error(
        api.post("/auth/register", json={"email": "a@example.com", "name": "A", "password": PASSWORD, "role": "admin"}),
        422,
        "validation_failed",
    )
    assert "role" in error["details"]["fields"]
    assert count(app, User) == 1


def test_register_twice_with_one_email_is_a_conflict(api, app):
    body = {"email": "dup@example.com", "name": "D", "password": PASSWORD}
    assert api.post("/auth/register", json=body).status == 201
    assert_error(api.post("/auth/register", json={**body, "email": "DUP@example.com"}), 409, "email_taken")
    assert count(app, User) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "name": "N", "password": PASSWORD}, "email"),
        ({"email": "n@example.com", "name": "N", "password": "short"}, "password"),
        ({"email": "n@example.com", "name": "", "password": PASSWORD}, "name"),
        ({"email": "n@example.com", "password": PASSWORD}, "name"),
        ({"email": "n@example.com", "name": "N", "password": PASSWORD, "is_admin": True}, "is_admin"),
        ({"email": 5, "name": "N", "password": PASSWORD}, "email"),
    ],
)
def test_invalid_registration_names_the_field_and_writes_nothing(api, app, body, field):
    error = assert_error(api.post("/auth/register", json=body), 422, "validation_failed")
    assert field in error["details"]["fields"]
    assert count(app, User) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"a string"', "application/json"),
        ("email=a@b.c", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_get_400_in_the_error_shape_and_write_nothing(client, app, data, content_type):
    response = client.post("/api/v1/auth/register", data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    assert count(app, User) == 0


def test_token_issue_use_and_revoke(api, factory, app):
    user = factory.user()
    r = api.post("/auth/token", json={"email": user.email, "password": PASSWORD})
    assert r.status == 200
    assert r.body["token_type"] == "Bearer" and r.body["expires_in"] > 0
    token = r.body["access_token"]
    with app.app_context():
        hashes = list(db.session.scalars(select(ApiToken.token_hash)))
    assert token not in hashes and len(hashes) == 1  # only the digest is stored

    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/me", headers=headers).body["email"] == user.email
    assert api.delete("/auth/token", headers=headers).status == 204
    assert_error(api.get("/me", headers=headers), 401, "unauthorized")


def test_delete_token_from_a_browser_session_signs_it_out_with_its_csrf_token_only(client, factory):
    user = factory.user()
    sign_in(client, user)
    csrf = csrf_of(client.get("/").get_data(as_text=True))

    forged = client.delete("/api/v1/auth/token")  # what another site could send: the cookie, no CSRF token
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "csrf_failed"
    assert client.get("/api/v1/me").status_code == 200  # still signed in

    signed_out = client.delete("/api/v1/auth/token", headers={"X-CSRFToken": csrf})
    assert signed_out.status_code == 204
    assert client.get("/api/v1/me").status_code == 401
    assert "Sign in" in client.get("/").get_data(as_text=True)


def test_token_issue_ignores_idempotency_key_and_says_why(api, factory, client):
    user = factory.user()
    body = {"email": user.email, "password": PASSWORD}
    first, second = (api.post("/auth/token", json=body, headers={"Idempotency-Key": "login-1"}) for _ in range(2))
    assert first.status == second.status == 200
    assert first.body["access_token"] != second.body["access_token"]  # a new token each time, both valid
    for token in (first.body["access_token"], second.body["access_token"]):
        assert api.get("/me", headers={"Authorization": f"Bearer {token}"}).body["email"] == user.email
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/auth/token"]["post"]
    assert "Idempotency-Key is ignored" in operation["description"]
    assert "Idempotency-Key" not in {p["name"] for p in operation["parameters"]}


def test_wrong_password_gets_401_without_saying_which_part_was_wrong(api, factory):
    user = factory.user()
    wrong = assert_error(api.post("/auth/token", json={"email": user.email, "password": "nope-nope-nope"}), 401)
    unknown = assert_error(
        api.post("/auth/token", json={"email": "ghost@example.com", "password": "nope-nope-nope"}), 401
    )
    assert wrong["message"] == unknown["message"]


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic abc", "Bearer"])
def test_bad_authorization_headers_get_401(api, header):
    assert_error(api.get("/me", headers={"Authorization": header}), 401, "unauthorized")


def test_signed_out_callers_get_401_and_attendees_get_403_on_host_routes(api, factory):
    from tests.factories import event_payload

    assert_error(api.get("/me"), 401, "unauthorized")
    assert_error(api.post("/events", json=event_payload()), 401)
    assert_error(api.as_(factory.user("attendee")).post("/events", json=event_payload()), 403, "forbidden")
    assert api.as_(factory.user("host")).post("/events", json=event_payload()).status == 201


def test_login_is_rate_limited_with_retry_after(api, app, factory, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    statuses = [api.post("/auth/token", json=body).status for _ in range(3)]
    assert statuses == [401, 401, 401]
    limited = api.post("/auth/token", json=body)
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_production_refuses_to_start_with_the_default_secret(monkeypatch):
    monkeypatch.setattr(ProductionConfig, "SECRET_KEY", DEFAULT_SECRET)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig)


def test_unknown_api_paths_and_methods_answer_in_the_error_shape(api):
    assert_error(api.get("/nothing-here"), 404, "not_found")
    assert_error(api.request("PUT", "/me"), 405, "method_not_allowed")
