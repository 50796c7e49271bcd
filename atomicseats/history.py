"""Synthetic history: years of past events, bookings and bookkeeping rows, written in bulk by SQL.

A flash sale that is fast on an empty database can still slow down with every sale it follows, when one hot
statement reads rows that grow with history (a booking read once scanned every seat ever sold). Benches and
the query-plan test therefore run on a database filled by :func:`seed`, the way production looks after a few
years: past events with their sections and seats, converted holds, confirmed, cancelled and failed bookings
with their seats, waitlist entries, outbox and processed-message rows, idempotency keys and API tokens.

Every row is generated inside PostgreSQL (``generate_series``), so a million booked seats take about a
minute instead of hours of ORM inserts. Each call adds another batch (its own tag keeps e-mails and booking
references unique), so a test can grow history step by step.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

SECTIONS_PER_EVENT = 4
SEATS_PER_ROW = 25
SEATS_PER_BOOKING = 3


@dataclass(frozen=True)
class Volume:
    """How much history one :func:`seed` call adds (the defaults are the issue's "years of history")."""

    events: int = 1000
    seats_per_event: int = 1100
    users: int = 100_000
    waitlist_entries: int = 50_000
    outbox_rows: int = 200_000
    processed_messages: int = 200_000
    idempotency_keys: int = 100_000
    api_tokens: int = 100_000

    def scaled(self, factor: float) -> Volume:
        """The same shape at ``factor`` times the size (at least one of each), for tests."""
        return Volume(**{name: max(1, int(value * factor)) for name, value in self.__dict__.items()})


_STEPS: tuple[tuple[str, str], ...] = (
    (
        "users",
        """
        CREATE TEMP TABLE hist_users ON COMMIT DROP AS
        WITH ins AS (
          INSERT INTO users (email, name, password_hash, role, created_at)
          SELECT 'h' || :tag || '-' || g || '@history.example', 'History user ' || g, :pw,
                 CASE WHEN g % 100 = 0 THEN 'host' ELSE 'attendee' END,
                 now() - random() * interval '3 years'
          FROM generate_series(1, :users) g RETURNING id, role)
        SELECT id, role FROM ins
        """,
    ),
    (
        "events",
        """
        CREATE TEMP TABLE hist_events ON COMMIT DROP AS
        WITH hosts AS (SELECT array_agg(id) AS ids FROM hist_users WHERE role = 'host'),
        planned AS (
          SELECT g, now() - (g::float / :events) * interval '3 years' - interval '1 day' AS starts_at,
                 (SELECT coalesce(ids, (SELECT array_agg(id) FROM hist_users)) FROM hosts) AS hosts
          FROM generate_series(1, :events) g),
        ins AS (
          INSERT INTO events (host_id, name, venue, starts_at, ends_at, status, seating, capacity,
                              created_at, updated_at, published_at)
          SELECT hosts[1 + g % cardinality(hosts)], 'Past event ' || :tag || '-' || g, 'Hall ' || (g % 37),
                 starts_at, starts_at + interval '3 hours',
                 CASE WHEN g % 50 = 0 THEN 'cancelled' ELSE 'ended' END, 'reserved', :seats_per_event,
                 starts_at - interval '60 days', starts_at, starts_at - interval '45 days'
          FROM planned RETURNING id, starts_at)
        SELECT id, starts_at FROM ins
        """,
    ),
    (
        "sections",
        """
        CREATE TEMP TABLE hist_sections ON COMMIT DROP AS
        WITH ins AS (
          INSERT INTO sections (event_id, name, price_cents, position)
          SELECT e.id, 'Section ' || p, 2000 + 1500 * p, p
          FROM hist_events e, generate_series(0, :sections - 1) p RETURNING id, event_id, position, price_cents)
        SELECT * FROM ins
        """,
    ),
    (
        "seat plan",
        """
        CREATE TEMP TABLE hist_seats ON COMMIT DROP AS
        SELECT nextval('seats_id_seq') AS id, sec.event_id, sec.id AS section_id, sec.price_cents,
               sec.position, i, (sec.position * :per_section + i) / :per_booking AS b
        FROM hist_sections sec, generate_series(0, :per_section - 1) i
        """,
    ),
    (
        "booking plan",
        """
        CREATE TEMP TABLE hist_bookings ON COMMIT DROP AS
        WITH attendees AS (SELECT array_agg(id) AS ids FROM hist_users),
        grouped AS (
          SELECT s.event_id, s.b, count(*) AS quantity, sum(s.price_cents) AS total, min(e.starts_at) AS starts_at
          FROM hist_seats s JOIN hist_events e ON e.id = s.event_id GROUP BY s.event_id, s.b)
        SELECT g.*, gen_random_uuid() AS booking_id, gen_random_uuid() AS hold_id,
               a.ids[1 + floor(random() * cardinality(a.ids))::int] AS user_id,
               g.starts_at - random() * interval '40 days' AS created_at,
               CASE WHEN random() < 0.90 THEN 'confirmed' WHEN random() < 0.7 THEN 'cancelled' ELSE 'failed' END
                 AS status,
               row_number() OVER () AS n
        FROM grouped g, attendees a
        """,
    ),
    (
        "holds",
        """
        INSERT INTO holds (id, event_id, user_id, quantity, status, expires_at, created_at, ended_at)
        SELECT hold_id, event_id, user_id, quantity, CASE status WHEN 'failed' THEN 'expired' ELSE 'converted' END,
               created_at + interval '5 minutes', created_at, created_at + interval '1 minute'
        FROM hist_bookings
        """,
    ),
    (
        "bookings",
        """
        INSERT INTO bookings (id, reference, user_id, event_id, hold_id, status, quantity, total_cents,
                              failure_reason, card_last4, created_at, updated_at, confirmed_at, cancelled_at)
        SELECT booking_id, 'H' || :tag || '-' || n, user_id, event_id, hold_id, status, quantity, total,
               CASE status WHEN 'failed' THEN 'payment_declined' END, '4242', created_at,
               created_at + interval '1 minute',
               CASE WHEN status IN ('confirmed', 'cancelled') THEN created_at + interval '1 second' END,
               CASE status WHEN 'cancelled' THEN created_at + interval '2 days' END
        FROM hist_bookings
        """,
    ),
    (
        "seats",
        """
        INSERT INTO seats (id, event_id, section_id, label, row_label, number, x, y, kind, booking_id)
        SELECT s.id, s.event_id, s.section_id,
               'S' || s.position || '-' || (s.i / :per_row + 1) || '-' || (s.i % :per_row + 1),
               chr(65 + (s.i / :per_row) % 26), s.i % :per_row + 1, s.i % :per_row,
               s.position * 100 + s.i / :per_row,
               CASE WHEN s.i % 97 = 0 THEN 'accessible' ELSE 'standard' END,
               CASE WHEN b.status = 'confirmed' THEN b.booking_id END
        FROM hist_seats s JOIN hist_bookings b ON b.event_id = s.event_id AND b.b = s.b
        """,
    ),
    (
        "hold seats",
        """
        INSERT INTO hold_seats (hold_id, seat_id)
        SELECT b.hold_id, s.id FROM hist_seats s JOIN hist_bookings b ON b.event_id = s.event_id AND b.b = s.b
        """,
    ),
    (
        "booking seats",
        """
        INSERT INTO booking_seats (booking_id, seat_id, price_cents, active)
        SELECT b.booking_id, s.id, s.price_cents, b.status = 'confirmed'
        FROM hist_seats s JOIN hist_bookings b ON b.event_id = s.event_id AND b.b = s.b
        WHERE b.status IN ('confirmed', 'cancelled')
        """,
    ),
    (
        "waitlist",
        """
        INSERT INTO waitlist_entries (id, event_id, user_id, quantity, accept_partial, status, created_at, updated_at)
        SELECT gen_random_uuid(), e.ids[1 + g % cardinality(e.ids)],
               u.ids[1 + floor(random() * cardinality(u.ids))::int],
               1 + g % 4, g % 3 = 0, (ARRAY['fulfilled', 'left', 'expired', 'cancelled'])[1 + g % 4],
               now() - random() * interval '3 years', now() - random() * interval '3 years'
        FROM generate_series(1, :waitlist) g,
             (SELECT array_agg(id) AS ids FROM hist_events) e, (SELECT array_agg(id) AS ids FROM hist_users) u
        """,
    ),
    (
        "outbox",
        """
        INSERT INTO outbox (topic, key, payload, created_at, sent_at, delivered_at, attempts)
        SELECT topic, key, payload, at, at + interval '50 milliseconds',
               CASE WHEN topic = 'notifications' THEN at + interval '2 seconds' END, 1
        FROM (SELECT CASE WHEN n % 2 = 0 THEN 'booking-requests' ELSE 'notifications' END AS topic,
                     event_id::text AS key,
                     jsonb_build_object('booking_id', booking_id::text, 'event_id', event_id, 'user_id', user_id,
                                        'kind', 'booking_confirmed') AS payload,
                     now() - random() * interval '6 days' AS at
              FROM hist_bookings ORDER BY n DESC LIMIT :outbox) AS sent
        """,
    ),
    (
        "processed messages",
        """
        INSERT INTO processed_messages (consumer, message_id, processed_at)
        SELECT 'confirm_booking', gen_random_uuid()::text, now() - random() * interval '6 days'
        FROM generate_series(1, :processed)
        UNION ALL  -- each email sent, as the email job records it
        SELECT 'email', CAST(message_id AS text), delivered_at FROM outbox
        WHERE topic = 'notifications' AND delivered_at IS NOT NULL
        ON CONFLICT DO NOTHING
        """,
    ),
    (
        "idempotency keys",
        """
        INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, created_at)
        SELECT u.ids[1 + g % cardinality(u.ids)], 'hist-' || :tag || '-' || g, md5(g::text), 201, '{}'::jsonb,
               now() - random() * interval '20 hours'
        FROM generate_series(1, :idempotency) g, (SELECT array_agg(id) AS ids FROM hist_users) u
        """,
    ),
    (
        "api tokens",
        """
        INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at)
        SELECT u.ids[1 + g % cardinality(u.ids)], encode(sha256(('hist-' || :tag || '-' || g)::bytea), 'hex'),
               now() - interval '30 days', now() - interval '29 days'
        FROM generate_series(1, :tokens) g, (SELECT array_agg(id) AS ids FROM hist_users) u
        """,
    ),
)


def seed(session: Session, volume: Volume, progress=None) -> dict[str, int]:
    """Add one batch of history in the caller's session and commit it; returns the rows written per table."""
    per_section = max(1, volume.seats_per_event // SECTIONS_PER_EVENT)
    params = {
        "tag": secrets.token_hex(2),
        "pw": generate_password_hash(secrets.token_urlsafe(12)),  # nobody signs in as a history user
        "users": volume.users,
        "events": volume.events,
        "seats_per_event": per_section * SECTIONS_PER_EVENT,
        "sections": SECTIONS_PER_EVENT,
        "per_section": per_section,
        "per_row": SEATS_PER_ROW,
        "per_booking": SEATS_PER_BOOKING,
        "waitlist": volume.waitlist_entries,
        "outbox": volume.outbox_rows,
        "processed": volume.processed_messages,
        "idempotency": volume.idempotency_keys,
        "tokens": volume.api_tokens,
    }
    written: dict[str, int] = {}
    for name, sql in _STEPS:
        result = session.execute(text(sql), params)
        written[name] = result.rowcount
        if progress is not None:
            progress(name, result.rowcount)
    session.commit()
    return written


def analyze(session: Session, statistics_target: int | None = None) -> None:
    """Refresh the planner's statistics, as autovacuum would soon after a bulk load.

    ``statistics_target`` (PostgreSQL's default is 100, a 30,000-row sample) makes the sample cover small
    tables whole, so that two plans of one statement compare history, not sampling noise.
    """
    if statistics_target is not None:
        session.execute(text(f"SET LOCAL default_statistics_target = {int(statistics_target)}"))
    session.execute(text("ANALYZE"))
    session.commit()
