"""Security headers on pages, API answers, errors and static files; HSTS in production only; the body limit."""

from __future__ import annotations

import io
import json

import pytest
import requests

from atomicseats.config import ProductionConfig
from tests.conftest import app_with
from tests.factories import LiveApi
from tests.pipeline.helpers import query

TWENTY_MB = 20 * 1024 * 1024


def csp_of(headers) -> dict[str, list[str]]:
    directives = (part.split() for part in headers["Content-Security-Policy"].split(";"))
    return {name: values for name, *values in directives}


@pytest.mark.parametrize(
    "path",
    ["/", "/login", "/events/{event}", "/api/docs", "/api/v1/events", "/api/v1/holds/{missing}", "/static/js/api.js"],
)
def test_pages_api_answers_errors_and_static_files_carry_the_security_headers(client, factory, path):
    event = factory.event()
    response = client.get(path.format(event=event.id, missing="6f1c1a2e-0000-4000-8000-000000000000"))
    response.close()  # a static file's
    assert response.status_code in (200, 401, 404)
    csp = csp_of(response.headers)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["default-src"] == csp["script-src"] == csp["style-src"] == csp["connect-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers


def test_no_template_needs_inline_script_or_style(client, factory):
    """The policy has no 'unsafe-inline': an inline script or style attribute on a page would be blocked."""
    event = factory.event()
    for path in ("/", f"/events/{event.id}", "/login", "/register", "/api/docs"):
        html = client.get(path).get_data(as_text=True)
        for tag in html.split("<script")[1:]:
            opening = tag.split(">", 1)[0]
            assert "src=" in opening or 'type="application/json"' in opening, (path, opening)
        assert " style=" not in html, path


def test_hsts_is_sent_on_https_requests_in_production_only(app):
    production = app_with(app, ProductionConfig).test_client()
    over_https = production.get("/api/docs", headers={"X-Forwarded-Proto": "https"})
    assert over_https.headers["Strict-Transport-Security"] == "max-age=31556926; includeSubDomains"
    assert "Strict-Transport-Security" not in production.get("/api/docs").headers  # plain HTTP: never
    testing = app.test_client().get("/api/docs", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in testing.headers


def test_a_realtime_process_on_another_origin_is_allowed_to_connect(app):
    other = app_with(app, REALTIME_URL="https://live.example.com:8443/socket").test_client()
    csp = csp_of(other.get("/api/docs").headers)
    assert csp["connect-src"] == ["'self'", "https://live.example.com:8443", "wss://live.example.com:8443"]
    assert csp["script-src"] == ["'self'"]


def _hold_count(app, event_id: int) -> int:
    return query(app, "SELECT count(*) AS n FROM holds WHERE event_id = :e", e=event_id)[0].n


def test_a_20_mb_json_body_gets_413_in_the_api_shape_and_holds_nothing(api, factory, app):
    event = factory.event()
    buyer = api.as_(factory.user())
    body = json.dumps({"seat_ids": factory.seat_ids(event.id)[:1], "note": "x" * TWENTY_MB})
    r = buyer.request("POST", f"/events/{event.id}/holds", data=body, content_type="application/json")
    assert r.status == 413
    assert r.body["error"]["code"] == "payload_too_large"
    assert str(app.config["MAX_CONTENT_LENGTH"]) in r.body["error"]["message"]
    assert _hold_count(app, event.id) == 0
    assert buyer.get(f"/events/{event.id}").body["availability"]["available"] == len(factory.seat_ids(event.id))


class Unreadable(io.RawIOBase):
    """A request body of ``size`` bytes that fails the test if anything reads it."""

    def __init__(self, size: int):
        self.size = size
        self.position = 0

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise AssertionError("the oversized body was read")


def test_an_oversized_body_is_refused_before_anything_reads_it_even_where_the_route_reads_none(api, factory, app):
    event = factory.event()
    buyer = api.as_(factory.user())
    held = buyer.post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)[:2]}).body
    r = buyer.request(
        "DELETE",
        f"/holds/{held['id']}",
        input_stream=Unreadable(TWENTY_MB),
        content_type="application/json",
    )
    assert r.status == 413
    assert r.body["error"]["code"] == "payload_too_large"
    assert buyer.get(f"/holds/{held['id']}").body["status"] == "active"


def test_the_real_server_answers_a_20_mb_upload_with_413(live_server, factory):
    event = factory.event()
    live = LiveApi(live_server, factory.token(factory.user()))
    body = b'{"seat_ids": [1], "note": "' + b"x" * TWENTY_MB + b'"}'
    r = live.post(f"/events/{event.id}/holds", data=body, headers={"Content-Type": "application/json"})
    assert r.status == 413, r.body
    assert r.body["error"]["code"] == "payload_too_large"
    assert requests.get(live_server + "/api/v1/events", timeout=10).status_code == 200  # the server is fine
