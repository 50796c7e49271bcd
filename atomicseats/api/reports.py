"""Sales and analytics: the figures of the host and admin pages, as JSON.

The report's own list (per-event figures for admins, the attendee list for hosts) is cursor-paged like
every other list; totals, sections, days and the most popular events come whole with every page.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from atomicseats.api import bp
from atomicseats.api.common import encode_cursor, page_args
from atomicseats.auth import api_auth, api_user
from atomicseats.booking import reports
from atomicseats.exceptions import Invalid


def _keyset_page(items: list[dict[str, Any]], fields: tuple[str, ...]) -> tuple[list[dict[str, Any]], str | None]:
    """The page after the cursor in the order of ``fields`` (unique together), so rows that arrive between two
    requests never shift an item onto a second page or off every page."""
    limit, cursor = page_args()
    ordered = sorted(items, key=lambda item: tuple(item[f] for f in fields))
    if cursor is not None:
        after = tuple(cursor.get(f) for f in fields)
        if ordered and [type(v) for v in after] != [type(ordered[0][f]) for f in fields]:
            raise Invalid.field("cursor", "is not a cursor this API gave out")
        ordered = [item for item in ordered if tuple(item[f] for f in fields) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, encode_cursor({f: page[-1][f] for f in fields}) if more else None


@bp.get("/host/events/<int:event_id>/sales")
@api_auth("host")
def event_sales(event_id: int):
    sales = reports.event_sales(event_id, api_user())
    sales["attendees"], sales["next_cursor"] = _keyset_page(sales["attendees"], ("confirmed_at", "reference"))
    return jsonify(sales)


@bp.get("/admin/analytics")
@api_auth("admin")
def analytics():
    figures = reports.site_analytics()
    figures["events"], figures["next_cursor"] = _keyset_page(figures["events"], ("starts_at", "id"))
    return jsonify(figures)
