"""An event whose end has passed is ``ended``: in its API status, in ``?status=ended``, on pages, and nowhere
listed as on sale; the scheduler's sweep stores it once and tells open seat maps."""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from atomicseats.booking import inventory
from atomicseats.extensions import db
from tests.pipeline.helpers import query
from tests.seatmaps import joined_seat_map


def end(app, event_id: int, hours_ago: int = 1) -> None:
    """Move an event into the past as time would, leaving its stored status as it is."""
    with app.app_context():
        db.session.execute(
            text(
                "UPDATE events SET starts_at = now() - make_interval(hours => :h + 2), "
                "ends_at = now() - make_interval(hours => :h) WHERE id = :e"
            ),
            {"e": event_id, "h": hours_ago},
        )
        db.session.commit()
        db.session.remove()


def stored_status(app, event_id: int) -> str:
    return query(app, "SELECT status FROM events WHERE id = :e", e=event_id)[0].status


def ids(page) -> list[int]:
    assert page.status == 200, page.body
    return [item["id"] for item in page.body["items"]]


def test_an_event_past_its_end_reads_as_ended_before_the_sweep_stores_it(api, factory, app, client):
    running = factory.event(name="Still running")
    over = factory.event(name="Already over")
    end(app, over.id)
    assert stored_status(app, over.id) == "on_sale"

    assert api.get(f"/events/{over.id}").body["status"] == "ended"
    assert api.get(f"/events/{running.id}").body["status"] == "on_sale"
    assert ids(api.get("/events")) == [running.id]
    assert ids(api.get("/events?status=on_sale")) == [running.id]
    assert ids(api.get("/events?status=ended")) == [over.id]
    assert ids(api.get("/events?status=ended,on_sale")) == [over.id, running.id]  # starts_at order
    listing = client.get("/").get_data(as_text=True)
    assert "Still running" in listing and "Already over" not in listing


def test_a_list_of_several_statuses_pages_through_each_event_once_in_order(api, factory, app):
    host = factory.user("host")
    events = [factory.event(host=host, name=f"Mixed {i}") for i in range(7)]
    for i, event in enumerate(events[:3]):
        end(app, event.id, hours_ago=10 - i)  # ended (derived), the oldest first
    end(app, events[3].id, hours_ago=5)
    with app.app_context():
        inventory.end_past_events()  # events[:4] now stored as ended
    end(app, events[4].id, hours_ago=4)  # ended, not yet stored
    assert api.as_(host).delete(f"/events/{events[5].id}").status == 200

    seen: list[int] = []
    page = api.get("/events?status=ended,on_sale,cancelled&limit=2")
    seen += ids(page)
    while page.body["next_cursor"]:
        page = api.get(f"/events?status=ended,on_sale,cancelled&limit=2&cursor={page.body['next_cursor']}")
        seen += ids(page)
    assert seen == [e.id for e in events[:5]] + [events[5].id, events[6].id]
    statuses = {i["id"]: i["status"] for i in api.get("/events?status=ended,on_sale,cancelled&limit=100").body["items"]}
    assert [statuses[e.id] for e in events] == ["ended"] * 5 + ["cancelled", "on_sale"]


def test_the_sweep_stores_ended_once_under_concurrent_schedulers_and_touches_nothing_else(api, app, factory, client):
    host = factory.user("host")
    over = [factory.event(host=host, name=f"Over {i}") for i in range(5)]
    running = factory.event(host=host)
    cancelled = factory.event(host=host)
    draft = factory.event(host=host, publish=False)
    assert api.as_(host).delete(f"/events/{cancelled.id}").status == 200
    for event in [*over, cancelled, draft]:
        end(app, event.id)

    def sweep(_: int) -> list[int]:
        with app.app_context():
            try:
                return inventory.end_past_events()
            finally:
                db.session.remove()

    with ThreadPoolExecutor(4) as pool:
        swept = [event_id for found in pool.map(sweep, range(8)) for event_id in found]
    assert sorted(swept) == sorted(e.id for e in over)  # each once, whichever scheduler got there
    assert {stored_status(app, e.id) for e in over} == {"ended"}
    assert stored_status(app, running.id) == "on_sale"
    assert stored_status(app, cancelled.id) == "cancelled"
    assert stored_status(app, draft.id) == "draft"
    page = client.get(f"/events/{over[0].id}").get_data(as_text=True)
    assert '<strong class="badge">ended</strong>' in page


def test_an_open_seat_map_hears_that_its_event_ended(app, factory, realtime_server):
    event = factory.event()
    heard: queue.Queue[dict] = queue.Queue()
    with joined_seat_map(realtime_server, event.id) as (seat_map, _, _):
        seat_map.on("event_status", heard.put)
        end(app, event.id)
        with app.app_context():
            assert inventory.end_past_events() == [event.id]
        assert heard.get(timeout=10) == {"event_id": event.id, "status": "ended"}
