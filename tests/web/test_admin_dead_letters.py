"""The admin dead-letter pages: admins only, filters and keyset pages, a letter's payload and error, and
replay of one or many through a CSRF-protected form, once however many admins ask at the same time."""

from __future__ import annotations

import json
import re
import threading
import uuid

from sqlalchemy import text

from atomicseats.admin import dead_letters as pages
from atomicseats.extensions import db
from atomicseats.pipeline import dead_letters
from tests.web.test_pages import csrf_of, sign_in

LETTER_LINK = re.compile(r'href="/admin/dead-letters/(\d+)"')


def _letter(app, kind: str, event_id: int | None, created: str, replayed: bool = False) -> int:
    """A parked job as the workers leave it (``created`` is a UTC date-time), its id."""
    subject = str(uuid.uuid4())
    payload = {"booking_id": subject} if kind == "booking" else {"kind": "booking_confirmed"}
    if event_id is not None:
        payload["event_id"] = event_id
    with app.app_context():
        letter_id = db.session.execute(
            text(
                "INSERT INTO dead_letters (kind, message_id, payload, error, attempts, event_id, created_at, "
                "replayed_at) VALUES (:k, :m, CAST(:p AS jsonb), :e, 4, :ev, CAST(:c AS timestamptz), "
                "CASE WHEN :r THEN now() END) RETURNING id"
            ),
            {
                "k": kind,
                "m": subject,
                "p": json.dumps(payload),
                "e": f"RuntimeError: {kind} {subject} broke <b>",
                "ev": event_id,
                "c": created,
                "r": replayed,
            },
        ).scalar_one()
        db.session.commit()
        db.session.remove()
    return letter_id


def _listed(client, **args: str) -> list[int]:
    r = client.get("/admin/dead-letters", query_string=args)
    assert r.status_code == 200, r.get_data(as_text=True)
    return [int(i) for i in LETTER_LINK.findall(r.get_data(as_text=True))]


def test_dead_letter_pages_are_for_admins_only(app, client, factory):
    letter = _letter(app, "notification", None, "2026-12-01T10:00:00Z")
    assert client.get("/admin/dead-letters").status_code == 302  # signed out: to the login page
    assert client.get(f"/admin/dead-letters/{letter}").status_code == 302
    sign_in(client, factory.user())
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.get("/admin/dead-letters").status_code == 403
    assert client.get(f"/admin/dead-letters/{letter}").status_code == 403
    r = client.post("/admin/dead-letters/replay", data={"csrf_token": token, "letters": [str(letter)]})
    assert r.status_code == 403
    with app.app_context():
        assert dead_letters.get(letter)["replayed_at"] is None
        db.session.remove()


def test_the_list_filters_by_kind_event_dates_and_replayed_and_pages_newest_first(app, client, factory, monkeypatch):
    a, b = factory.event(), factory.event()
    email_a = _letter(app, "notification", a.id, "2026-11-01T09:00:00Z")
    booking_a = _letter(app, "booking", a.id, "2026-11-02T09:00:00Z")
    email_b = _letter(app, "notification", b.id, "2026-11-03T09:00:00Z", replayed=True)
    booking_b = _letter(app, "booking", b.id, "2026-11-03T23:59:00Z")
    orphan = _letter(app, "notification", None, "2026-11-05T09:00:00Z")
    sign_in(client, factory.user("admin"))

    assert _listed(client) == [orphan, booking_b, booking_a, email_a]  # open ones by default
    assert _listed(client, state="all") == [orphan, booking_b, email_b, booking_a, email_a]
    assert _listed(client, state="replayed") == [email_b]
    assert _listed(client, kind="booking") == [booking_b, booking_a]
    assert _listed(client, kind="notification", state="all") == [orphan, email_b, email_a]
    assert _listed(client, event=str(a.id)) == [booking_a, email_a]
    assert _listed(client, event=str(b.id), kind="booking") == [booking_b]
    assert _listed(client, since="2026-11-02", until="2026-11-03", state="all") == [booking_b, email_b, booking_a]
    bad = client.get("/admin/dead-letters", query_string={"event": "nope", "since": "yesterday"})
    assert bad.status_code == 400 and LETTER_LINK.findall(bad.get_data(as_text=True)) == []

    monkeypatch.setattr(pages, "DEAD_LETTERS_PAGE", 2)
    seen, url = [], "/admin/dead-letters?state=all"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += [int(i) for i in LETTER_LINK.findall(page)]
        older = re.search(r'href="([^"]+)" rel="next"', page)
        url = older[1].replace("&amp;", "&") if older else None
    assert seen == [orphan, booking_b, email_b, booking_a, email_a]
    assert client.get("/admin/dead-letters?cursor=bm90LWEtY3Vyc29y").status_code == 400


def test_a_letter_shows_its_payload_and_error_escaped(app, client, factory):
    event = factory.event()
    letter = _letter(app, "booking", event.id, "2026-12-01T10:00:00Z")
    sign_in(client, factory.user("admin"))
    page = client.get(f"/admin/dead-letters/{letter}").get_data(as_text=True)
    with app.app_context():
        shown = dead_letters.get(letter)
        db.session.remove()
    assert shown["payload"]["booking_id"] in page and f'"event_id": {event.id}' in page
    assert "broke &lt;b&gt;" in page and "<b>" not in page
    assert "Replay this booking" in page
    assert client.get("/admin/dead-letters/999999999").status_code == 404


def test_replaying_several_needs_the_csrf_token_and_replays_each_once(app, client, factory):
    admin = factory.user("admin")
    first = _letter(app, "notification", None, "2026-12-01T10:00:00Z")
    second = _letter(app, "booking", None, "2026-12-01T11:00:00Z")
    untouched = _letter(app, "notification", None, "2026-12-01T12:00:00Z")
    sign_in(client, admin)
    page = client.get("/admin/dead-letters").get_data(as_text=True)
    assert f'name="letters" value="{first}"' in page

    refused = client.post("/admin/dead-letters/replay", data={"letters": [str(first), str(second)]})
    assert refused.status_code == 400
    assert _listed(client) == [untouched, second, first]  # nothing replayed

    token = csrf_of(page)
    r = client.post("/admin/dead-letters/replay?kind=", data={"csrf_token": token, "letters": [first, second]})
    assert r.status_code == 302 and r.location.endswith("/admin/dead-letters")
    done = client.get("/admin/dead-letters?state=all").get_data(as_text=True)
    assert f"Replayed #{first}, #{second}." in done and f"by {admin.email}" in done
    assert _listed(client) == [untouched]
    again = client.post(
        "/admin/dead-letters/replay", data={"csrf_token": token, "letters": [first, 999999999]}, follow_redirects=True
    ).get_data(as_text=True)
    assert f"Already replayed, so not again: #{first}." in again and "No such dead letter: #999999999." in again
    none = client.post("/admin/dead-letters/replay", data={"csrf_token": token}, follow_redirects=True)
    assert "Tick at least one dead letter." in none.get_data(as_text=True)
    rows = _replays(app)
    assert rows == {first: admin.id, second: admin.id, untouched: None}


def _replays(app) -> dict[int, int | None]:
    with app.app_context():
        rows = db.session.execute(text("SELECT id, replayed_by FROM dead_letters")).all()
        db.session.remove()
    return {r.id: r.replayed_by for r in rows}


def test_admins_replaying_the_same_letters_at_once_enqueue_each_job_once(app, factory, redis_client):
    admins = [factory.user("admin") for _ in range(6)]
    letters = [_letter(app, "booking", None, f"2026-12-01T10:0{i}:00Z") for i in range(5)]
    with app.app_context():
        subjects = {r.id: r.message_id for r in db.session.execute(text("SELECT id, message_id FROM dead_letters"))}
        db.session.remove()
    start = threading.Barrier(len(admins))
    results: dict[int, dead_letters.Replayed] = {}

    def replay(admin) -> None:
        with app.app_context():
            start.wait(timeout=10)
            results[admin.id] = dead_letters.replay(letters, admin.id)
            db.session.remove()

    threads = [threading.Thread(target=replay, args=(a,)) for a in admins]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    done = sorted(i for r in results.values() for i in r.done)
    assert len(results) == len(admins) and done == sorted(letters)
    for r in results.values():
        assert sorted(r.done + r.already) == sorted(letters) and r.missing == []
    for letter in letters:  # one confirm job per parked booking in RQ, whoever won
        assert len(list(redis_client.scan_iter(match=f"rq:job:confirm-{subjects[letter]}-redrive-*"))) == 1
    winners = {letter: admin for admin, r in results.items() for letter in r.done}
    assert _replays(app) == winners


def test_the_dashboard_links_to_the_dead_letters(client, factory):
    sign_in(client, factory.user("admin"))
    assert 'href="/admin/dead-letters"' in client.get("/admin/").get_data(as_text=True)
