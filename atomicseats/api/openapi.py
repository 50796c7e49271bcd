"""The OpenAPI 3.1 document at ``/api/v1/openapi.json``, generated from the code it describes.

Paths, methods and path parameters come from ``app.url_map``; request bodies are the very pydantic models the
routes validate with (``model_json_schema``), responses the models of ``api/schemas.py``. What a route cannot
say about itself (who may call it, its query parameters, which errors it answers) lives in ``OPERATIONS``,
keyed by endpoint name; ``undocumented()`` names any route missing from it and any entry without a route, and
a test keeps both lists empty. A library (spectree, flask-smorest) would have validated requests a second
time, beside ``json_body`` and its field-level 422s, and wrapped the routes other modules own; a registry of
about twenty entries describes the same routes without touching them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from atomicseats.api import bp, schemas
from atomicseats.api.accounts import RegisterBody, TokenBody
from atomicseats.api.common import MAX_LIMIT
from atomicseats.booking.checkout import CheckoutRequest
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.idempotency import MAX_KEY_LENGTH
from atomicseats.booking.specs import EventPatch, EventSpec
from atomicseats.booking.waitlist import JoinRequest
from atomicseats.exceptions import Invalid
from atomicseats.models.bookings import BOOKING_STATUSES

PREFIX = "/api/v1"
docs_bp = Blueprint("api_docs", __name__)

ANYONE = "anyone"  # no sign-in needed; a bearer token is still checked when sent
SIGNED_IN = "signed_in"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str
    location: str = "query"


@dataclass(frozen=True)
class Op:
    """What a route does not say about itself."""

    summary: str
    who: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    creates: bool = False  # takes an Idempotency-Key
    rate_limited: bool = False
    example: dict[str, Any] | None = None
    tags: tuple[str, ...] = field(default=())
    description: str = ""  # what the summary cannot say, said in the operation's description


def _when(name: str, what: str) -> Param:
    return Param(name, {"type": "string", "format": "date-time"}, f"{what} (ISO 8601 with a time zone)")


PAGE = (
    Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}, "Items per page."),
    Param("cursor", {"type": "string"}, "The `next_cursor` of the previous page (opaque)."),
)

EVENT_EXAMPLE = {
    "name": "Quartet at dusk",
    "description": "Strings by the river.",
    "venue": "Harbour Hall",
    "starts_at": "2027-06-01T19:00:00+00:00",
    "ends_at": "2027-06-01T21:00:00+00:00",
    "seating": "reserved",
    "sections": [{"name": "Stalls", "price_cents": 4500, "rows": [{"label": "A", "seats": 10}]}],
}

OPERATIONS: dict[str, Op] = {
    "api.register": Op(
        "Create an account (attendee or host).",
        ANYONE,
        RegisterBody,
        schemas.UserOut,
        201,
        (409,),
        creates=True,
        rate_limited=True,
        example={"email": "ada@example.com", "name": "Ada", "password": "correct-horse-battery"},
    ),
    "api.issue_token": Op(
        "Exchange email and password for a bearer token.",
        ANYONE,
        TokenBody,
        schemas.TokenOut,
        rate_limited=True,
        description=(
            "Each call issues a new token, and an Idempotency-Key is ignored: replaying the first answer would "
            "mean storing the plain token, of which the database otherwise keeps only a digest. A retried call "
            "leaves at most an unused token, which expires after its lifetime."
        ),
        example={"email": "ada@example.com", "password": "correct-horse-battery"},
    ),
    "api.revoke_token": Op(
        "Revoke the bearer token in use, or sign out the browser session the request came with.",
        SIGNED_IN,
        description="From a browser session, send its CSRF token in X-CSRFToken, as for every session write.",
        status=204,
    ),
    "api.me": Op("The signed-in user.", SIGNED_IN, response=schemas.UserOut),
    "api.list_events": Op(
        "Published events, soonest first.",
        ANYONE,
        response=schemas.EventPage,
        params=(
            *PAGE,
            Param("q", {"type": "string"}, "Words in the name, venue or description."),
            _when("from", "Starting at or after"),
            _when("to", "Starting at or before"),
            Param(
                "status",
                {"type": "string"},
                "Comma-separated among on_sale, sold_out, ended, cancelled (default on_sale).",
            ),
        ),
    ),
    "api.create_event": Op(
        "Create an event as a draft.",
        "host",
        EventSpec,
        schemas.EventOut,
        201,
        creates=True,
        example=EVENT_EXAMPLE,
    ),
    "api.get_event": Op("An event with its sections, prices and availability.", ANYONE, response=schemas.EventOut),
    "api.update_event": Op(
        "Edit an event (owner or admin); capacity never below held + booked.",
        "host",
        EventPatch,
        schemas.EventOut,
        errors=(409,),
        example={"name": "Quartet at dawn"},
    ),
    "api.publish_event": Op("Put a draft on sale.", "host", response=schemas.EventOut, errors=(409,)),
    "api.cancel_event": Op(
        "Cancel an event: its bookings are cancelled and holders told.",
        "host",
        response=schemas.EventOut,
        errors=(409,),
    ),
    "api.event_seats": Op("Every seat of the event with its status (never who).", ANYONE, response=schemas.SeatList),
    "api.create_hold": Op(
        "Hold seats (all or nothing) or a quantity of places.",
        "attendee",
        HoldRequest,
        schemas.HoldOut,
        201,
        (409, 410),
        params=(
            Param(
                "X-Admission-Token",
                {"type": "string"},
                "On an event with a waiting room: the admission_token of POST /events/{id}/queue. Without a valid "
                "one, 403 with code admission_required, admission_token_invalid, admission_token_wrong_event, "
                "admission_token_not_yours, admission_token_expired or admission_token_used. A hold made with it "
                "(201) spends it; a retry with that hold's Idempotency-Key still gets the first answer.",
                "header",
            ),
        ),
        creates=True,
        rate_limited=True,
        example={"seat_ids": [1, 2]},
    ),
    "api.get_hold": Op(
        "Your hold and its time left; 410 once it ended.", SIGNED_IN, response=schemas.HoldOut, errors=(410,)
    ),
    "api.release_hold": Op("Release your hold now.", SIGNED_IN, status=204, errors=(409, 410)),
    "api.create_booking": Op(
        "Check out a hold; the booking is confirmed in the background (poll it).",
        "attendee",
        CheckoutRequest,
        schemas.BookingAccepted,
        202,
        (404, 409, 410),
        creates=True,
        example={"hold_id": "0b9c6a3e-4d1f-4a57-9a40-2f3f1f1c2a10", "payment": {"card_number": "4242424242424242"}},
        description=(
            "A declined card fails only that booking (`failure_reason: payment_declined`): the hold is `active` "
            "again until its own `expires_at`, and another card may be tried with a new checkout of the same "
            "`hold_id` under a new Idempotency-Key. A hold has at most one booking that has not failed; a second "
            "checkout while one is pending or confirmed is 409 `hold_in_checkout`."
        ),
    ),
    "api.list_bookings": Op(
        "Your bookings, newest first.",
        SIGNED_IN,
        response=schemas.BookingPage,
        params=(
            *PAGE,
            Param("event_id", {"type": "integer", "minimum": 0}, "Only this event's."),
            Param("status", {"type": "string", "enum": list(BOOKING_STATUSES)}, "Only bookings in this status."),
            _when("from", "Event starting at or after"),
            _when("to", "Event starting at or before"),
        ),
    ),
    "api.get_booking": Op(
        "A booking (its owner, the event's host, admins).",
        SIGNED_IN,
        response=schemas.BookingOut,
        params=(
            Param(
                "wait",
                {"type": "integer", "minimum": 0, "maximum": 30},
                "While the booking is pending, answer as soon as it is confirmed or failed, or after this many "
                "seconds (a long poll instead of polling again and again).",
            ),
        ),
    ),
    "api.cancel_booking": Op(
        "Cancel a confirmed booking; its places go to the waitlist.",
        SIGNED_IN,
        response=schemas.BookingOut,
        errors=(409,),
    ),
    "api.join_waitlist": Op(
        "Join the event's waitlist.",
        "attendee",
        JoinRequest,
        schemas.WaitlistJoined,
        201,
        (409,),
        creates=True,
        example={"quantity": 2, "accept_partial": False, "together": True, "max_price_cents": 5000},
        description=(
            "Offers go to the first entry in line that fits what is free: an all-or-nothing group (without "
            "`accept_partial`) larger than what is free, or one whose preferences nothing free meets, keeps its "
            "place and a smaller group behind it is served. `section_ids` (reserved seating) and "
            "`max_price_cents` limit which places are offered; `together` asks for adjacent seats in one row "
            "(with `accept_partial`, a smaller block is offered when no block of the full size is free). "
            "Preferences no seat of the event could meet are a 422."
        ),
    ),
    "api.my_waitlist": Op(
        "Your waitlist entries with position and any open offer.", SIGNED_IN, response=schemas.WaitlistPage, params=PAGE
    ),
    "api.leave_waitlist": Op("Leave the waitlist.", SIGNED_IN, status=204, errors=(409,)),
    "api.accept_offer": Op(
        "Accept a waitlist offer: where to check out its hold (409 no_open_offer if none is open).",
        SIGNED_IN,
        response=schemas.OfferAccepted,
        errors=(409,),
    ),
    "api.decline_offer": Op(
        "Decline a waitlist offer: its places pass to the next in line at once, and you leave this waitlist.",
        SIGNED_IN,
        status=204,
        errors=(409,),
    ),
    "api.join_queue": Op(
        "Join the event's waiting room, or see your place (idempotent: one place per account).",
        SIGNED_IN,
        response=schemas.QueueStateOut,
        errors=(409, 429),
    ),
    "api.queue_ticket": Op(
        "Your place in a waiting room by ticket (only yours; any other is 404).",
        SIGNED_IN,
        response=schemas.QueueStateOut,
    ),
    "api.event_sales": Op(
        "Sales by section and day, and the attendee list (cursor-paged).",
        "host",
        response=schemas.SalesOut,
        params=PAGE,
    ),
    "api.analytics": Op(
        "Site-wide totals, most popular events, and utilisation per event (cursor-paged, soonest first).",
        "admin",
        response=schemas.AnalyticsOut,
        params=PAGE,
    ),
    "api.dead_letters": Op(
        "Jobs that failed every retry (emails, booking confirmations), newest first.",
        "admin",
        response=schemas.DeadLetterPage,
        params=(*PAGE, Param("all", {"type": "string", "enum": ["0", "1", "true", "false"]}, "Include replayed ones.")),
    ),
    "api.replay_dead_letter": Op(
        "Run a parked job again, once.", "admin", response=schemas.Replayed, status=202, errors=(409,)
    ),
    "api.openapi_document": Op("This document.", ANYONE, response=schemas.OpenApiDocument),
}

# gunicorn answers a request line over its limit (4,094 bytes) itself, in HTML, before the API sees it.
URI_TOO_LONG = "Request line too long: answered by the HTTP server (text/html), not in the API's error shape"
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_PATH_SCHEMAS = {"int": {"type": "integer", "minimum": 0}, "uuid": {"type": "string", "format": "uuid"}}
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Malformed request (not a JSON object)",
    401: "Not signed in, or the token is invalid",
    403: "Signed in without the needed role or ownership",
    404: "No such object (or not yours)",
    409: "Conflict with the current state",
    410: "Expired",
    413: "Body larger than MAX_CONTENT_LENGTH (payload_too_large)",
    422: "Invalid field (details.fields names each)",
    429: "Too many requests (see Retry-After)",
}


@bp.before_request
def reject_unknown_query_parameters() -> None:
    """A misspelt filter (``?evnt_id=3``) is a 422, not a silently unfiltered list: the documented parameters
    of the route are the only ones it takes. Each is a single value: a repeated one (``?limit=5&limit=500``)
    is a 422 too, not the first value taken silently."""
    op = OPERATIONS.get(request.endpoint or "")
    if op is None or not request.args:
        return
    unknown = sorted(set(request.args) - {p.name for p in op.params if p.location == "query"})
    if unknown:
        fields = {name: "is not a parameter of this endpoint" for name in unknown}
        raise Invalid(f"Unknown query parameter: {unknown[0]!r}.", code="unknown_parameter", details={"fields": fields})
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise Invalid.field(repeated[0], "must be given once")


def api_routes(app: Flask) -> dict[str, tuple[str, str]]:
    """``{endpoint: (method, rule)}`` of every route under /api/v1."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
            routes[rule.endpoint] = (methods[0], rule.rule)
    return routes


def undocumented(app: Flask) -> tuple[set[str], set[str]]:
    """(routes without an OPERATIONS entry, OPERATIONS entries without a route)."""
    routes = set(api_routes(app))
    return routes - set(OPERATIONS), set(OPERATIONS) - routes


def _components() -> tuple[dict[tuple[type[BaseModel], str], dict], dict[str, Any]]:
    models = [(op.body, "validation") for op in OPERATIONS.values() if op.body]
    models += [(op.response, "serialization") for op in OPERATIONS.values() if op.response]
    models.append((schemas.Error, "serialization"))
    refs, defs = models_json_schema(list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}")
    return refs, defs.get("$defs", {})


def _operation(endpoint: str, rule: str, op: Op, refs: dict) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _PATH_SCHEMAS.get(conv or "default", {"type": "string"}),
        }
        for conv, name in _CONVERTER.findall(rule)
    ]
    parameters += [
        {"name": p.name, "in": p.location, "description": p.description, "schema": p.schema} for p in op.params
    ]
    if op.creates:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "description": "A repeat with the same key (and body) returns the first answer and does nothing more.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            }
        )
    errors = {401, *op.errors}  # a bearer token, when sent, is checked on every route
    if op.body is not None:
        errors |= {400, 413, 422}
    errors.add(422)  # an unknown query parameter, on any route
    if op.who not in (ANYONE, SIGNED_IN):
        errors.add(403)
    if _CONVERTER.search(rule):
        errors.add(404)
    if op.rate_limited:
        errors.add(429)
    success: dict[str, Any] = {"description": _STATUS_TEXT[op.status]}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    responses: dict[str, Any] = {str(op.status): success}
    error_schema = {"application/json": {"schema": refs[(schemas.Error, "serialization")]}}
    for status in sorted(errors):
        responses[str(status)] = {"description": _STATUS_TEXT[status], "content": error_schema}
    responses["414"] = {"description": URI_TOO_LONG}
    operation: dict[str, Any] = {
        "operationId": endpoint.removeprefix("api."),
        "summary": op.summary,
        "tags": [rule.removeprefix(PREFIX + "/").split("/")[0]],
        "parameters": parameters,
        "responses": responses,
    }
    if op.who == ANYONE:
        operation["security"] = [{}, {"bearer": []}]
    else:
        operation["security"] = [{"bearer": []}]
        if op.who != SIGNED_IN:
            operation["description"] = f"Needs the role {op.who} (admins pass every role check)."
    if op.description:
        operation["description"] = " ".join(filter(None, [operation.get("description"), op.description]))
    if op.body is not None:
        media: dict[str, Any] = {"schema": refs[(op.body, "validation")]}
        if op.example is not None:
            media["example"] = op.example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    refs, components = _components()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint, (method, rule) in sorted(api_routes(app).items(), key=lambda item: item[1][1]):
        op = OPERATIONS.get(endpoint)
        if op is None:
            continue  # undocumented(): the test suite names it
        path = _CONVERTER.sub(r"{\2}", rule)
        paths.setdefault(path, {})[method.lower()] = _operation(endpoint, rule, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AtomicSeats API",
            "version": "1",
            "description": "Seats for events, never sold twice. Errors: `{error: {code, message, details}}`. "
            "Lists: `?limit=` (1-100) and `?cursor=`, answering `{items, next_cursor}`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "From POST /api/v1/auth/token."}
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    app = current_app._get_current_object()
    document = app.extensions.get("atomicseats.openapi")
    if document is None:
        document = app.extensions["atomicseats.openapi"] = build_document(app)
    return jsonify(document)


@docs_bp.get("/api/docs")
def api_docs():
    """Swagger UI over the document, from static/vendor (no CDN)."""
    return render_template("api/docs.html")
