"""Host sales and admin analytics over the JSON API: the figures and who may see them."""

from __future__ import annotations


def test_host_sees_own_event_sales_by_section_with_held_seats(api, factory):
    host = factory.user("host")
    event = factory.event(
        host=host,
        sections=[
            {"name": "Stalls", "price_cents": 4500, "rows": [{"label": "A", "seats": 4}]},
            {"name": "Circle", "price_cents": 3000, "rows": [{"label": "B", "seats": 6}]},
        ],
    )
    seats = factory.seat_ids(event.id)
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]}).status == 201

    r = api.as_(host).get(f"/host/events/{event.id}/sales")

    assert r.status == 200, r.body
    assert r.body["event"] | {"total": 10, "held": 2, "sold": 0, "available": 8, "revenue_cents": 0} == r.body["event"]
    assert [(s["section"], s["price_cents"], s["total"], s["held"], s["available"]) for s in r.body["by_section"]] == [
        ("Stalls", 4500, 4, 2, 2),
        ("Circle", 3000, 6, 0, 6),
    ]
    assert r.body["attendees"] == [] and r.body["by_day"] == []


def test_another_host_gets_403_and_attendee_403_and_draft_404(api, factory):
    event = factory.event()
    draft = factory.event(publish=False)
    assert api.as_(factory.user("host")).get(f"/host/events/{event.id}/sales").status == 403
    assert api.as_(factory.user()).get(f"/host/events/{event.id}/sales").status == 403
    assert api.as_(factory.user("host")).get(f"/host/events/{draft.id}/sales").status == 404
    assert api.get(f"/host/events/{event.id}/sales").status == 401


def test_admin_analytics_counts_published_events_only(api, factory):
    factory.event()
    factory.event(publish=False)
    assert api.as_(factory.user("host")).get("/admin/analytics").status == 403

    r = api.as_(factory.user("admin")).get("/admin/analytics")

    assert r.status == 200, r.body
    assert r.body["totals"]["events"] == 1
    assert [e["total"] for e in r.body["events"]] == [20]
    assert r.body["most_popular"] == [] and r.body["revenue_by_day"] == []
