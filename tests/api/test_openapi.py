"""The OpenAPI document covers exactly the routes there are, and the docs page runs from local assets."""

from __future__ import annotations

import json

from atomicseats.api.openapi import OPERATIONS, undocumented


def test_every_api_route_is_documented_and_every_documented_route_exists(app):
    missing, stale = undocumented(app)
    assert missing == set(), f"routes under /api/v1 without an OPERATIONS entry: {sorted(missing)}"
    assert stale == set(), f"OPERATIONS entries without a route: {sorted(stale)}"


def test_the_document_is_openapi_3_1_with_schemas_from_the_models(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    operations = [op for path in doc["paths"].values() for op in path.values()]
    assert len(operations) == len(OPERATIONS)
    hold = doc["paths"]["/api/v1/events/{event_id}/holds"]["post"]
    assert hold["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HoldRequest"}
    assert hold["requestBody"]["content"]["application/json"]["example"]
    assert {"201", "409", "422"} <= set(hold["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in hold["parameters"])
    assert doc["components"]["schemas"]["HoldRequest"]["additionalProperties"] is False
    assert "wheelchair space" in doc["components"]["schemas"]["HoldRequest"]["properties"]["accessible"]["description"]
    checkout = doc["paths"]["/api/v1/bookings"]["post"]
    assert "payment_declined" in checkout["description"] and "hold_in_checkout" in checkout["description"]
    every_ref = json.dumps(doc)
    for name in doc["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in every_ref
    assert "#/$defs/" not in every_ref


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/static/vendor/swagger-ui-bundle.js" in html and "/api/v1/openapi.json" in html
    assert "http://" not in html and "https://" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/static/vendor/{asset}")
        response.close()
        assert response.status_code == 200, f"run scripts/setup.sh ({asset})"


def test_an_unknown_query_parameter_is_a_422_naming_it(api):
    response = api.get("/events?limit=5&evnt_id=3")
    assert response.status == 422
    assert response.body["error"]["code"] == "unknown_parameter"
    assert response.body["error"]["details"]["fields"] == {"evnt_id": "is not a parameter of this endpoint"}


def test_a_repeated_query_parameter_is_a_422_naming_it_not_its_first_value_taken(api):
    response = api.get("/events?limit=5&limit=500")
    assert response.status == 422
    assert response.body["error"]["details"]["fields"] == {"limit": "must be given once"}


def test_every_operation_documents_the_http_servers_414(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "414" in operation["responses"], f"{method.upper()} {path}"


def test_a_request_id_is_echoed_or_made_up(api):
    given = api.get("/events", headers={"X-Request-Id": "trace-42.a"})
    assert given.headers["X-Request-Id"] == "trace-42.a"
    made = api.get("/events", headers={"X-Request-Id": "no spaces allowed"})
    assert made.headers["X-Request-Id"] != "no spaces allowed" and len(made.headers["X-Request-Id"]) == 32


def test_the_waitlist_fields_are_documented_for_joining_and_in_the_answers(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    preferences = {"accept_partial", "section_ids", "together", "max_price_cents"}
    assert preferences <= set(schemas["JoinRequest"]["properties"])
    assert schemas["JoinRequest"]["additionalProperties"] is False
    for answer in ("WaitlistJoined", "WaitlistEntryOut"):
        assert preferences <= set(schemas[answer]["required"]), answer
    join = doc["paths"]["/api/v1/events/{event_id}/waitlist"]["post"]
    assert "422" in join["responses"] and "first entry in line that fits" in join["description"]
