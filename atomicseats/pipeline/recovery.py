"""Recovery that does not trust the broker: re-drive bookings left pending, from PostgreSQL.

Kafka (Tansu keeps messages in memory only), Redis and workers may each lose a booking's request: a broker
restart drops the message, a wiped Redis drops the queued job, a SIGKILLed worker leaves it "started"
forever, or "queued" in no queue at all when it died between taking the job and starting it. PostgreSQL still
says ``pending`` (or, for an email, not sent), so the scheduler enqueues a fresh job for every booking still
pending and every email still unsent ``REDRIVE_AFTER_SECONDS`` after its message was published. Confirming
and sending are idempotent, so a re-drive of one that was merely slow changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from flask import current_app
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import text

from atomicseats.booking import booking_reads, outbox, waitlist
from atomicseats.extensions import db, redis_ext
from atomicseats.models.base import utcnow
from atomicseats.pipeline import jobs

log = logging.getLogger(__name__)


def redrive_stale() -> int:
    """Enqueue a confirm job for each stale pending booking, at most once per re-drive period each."""
    after = current_app.config["REDRIVE_AFTER_SECONDS"]
    count = 0
    for booking_id in booking_reads.stale_pending(timedelta(seconds=after)):
        try:
            if _waiting_in_rq(jobs.dispatched_job(str(booking_id))):
                continue  # merely behind a backlog: a second job would only add load
            if not redis_ext.client.set(redis_ext.key("redrive", booking_id), 1, nx=True, ex=after):
                continue  # re-driven recently; give that job its time
            jobs.enqueue_confirm(str(booking_id), redrive=True)
        except redis.RedisError as exc:
            log.warning("re-drive: Redis unavailable (%s)", exc)
            break
        count += 1
        log.warning("re-drive: booking %s was still pending; enqueued a confirm job from PostgreSQL", booking_id)
    return count


def redrive_lost_emails(window: timedelta = timedelta(days=1)) -> int:
    """Enqueue again each email published over ``REDRIVE_AFTER_SECONDS`` ago that was neither sent nor parked.

    A wiped Redis drops queued email jobs whose Kafka offsets the dispatcher has already committed, and a
    SIGKILLed worker strands one; the outbox row in PostgreSQL still says which were never sent: the email job
    stamps ``delivered_at`` when it sends, and a partial index holds only the rows still without it, so this
    reads the emails not sent, not every email of the window. Sending is idempotent on the message id (a
    second job waits on the first one's ``processed_messages`` row and then sends nothing), so a re-drive of an
    email that was merely slow sends nothing twice; each is re-driven at most once per re-drive period.
    """
    after = current_app.config["REDRIVE_AFTER_SECONDS"]
    now = utcnow()
    rows = db.session.execute(
        text(
            """
            SELECT CAST(o.message_id AS text) AS message_id, o.payload FROM outbox o
            WHERE o.topic = :topic AND o.delivered_at IS NULL AND o.sent_at < :cutoff AND o.sent_at > :since
              AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.message_id = CAST(o.message_id AS text))
            ORDER BY o.sent_at LIMIT 200
            """
        ),
        {"topic": outbox.NOTIFICATIONS, "cutoff": now - timedelta(seconds=after), "since": now - window},
    ).all()
    db.session.rollback()
    count = 0
    for row in rows:
        try:
            if _waiting_in_rq(jobs.dispatched_job(row.message_id)):
                continue  # merely behind a backlog: a second job would only add load
            if not redis_ext.client.set(redis_ext.key("redrive-email", row.message_id), 1, nx=True, ex=after):
                continue
            jobs.enqueue_notification(
                row.payload, row.message_id, job_id=f"notify-{row.message_id}-redrive-{int(now.timestamp())}"
            )
        except redis.RedisError as exc:
            log.warning("re-drive: Redis unavailable (%s)", exc)
            break
        count += 1
        log.warning("re-drive: email %s was never sent; enqueued it again from PostgreSQL", row.message_id)
    return count


def _waiting_in_rq(job_id: str | None) -> bool:
    """The dispatcher's job (``None``: none is known) is where RQ runs it without help: in its queue, or
    scheduled for a retry.

    Its status is no evidence. A worker SIGKILLed after taking a job off the queue and before starting it
    leaves the job "queued" in no queue (BLPOP, a worker on several queues: nothing ever runs it) or in the
    queue's intermediate list (BLMOVE, one queue: RQ fails or retries it a minute or two later), and one killed
    while running leaves it "started" until its heartbeat runs out. So only a place a live worker pops from
    makes the re-drive wait: a second job there would only add load to a backlog.
    """
    if job_id is None:
        return False
    try:
        job = Job.fetch(job_id, connection=redis_ext.client)
    except NoSuchJobError:
        return False
    rq_queue = Queue(job.origin, connection=redis_ext.client)
    return rq_queue.get_job_position(job_id) is not None or job_id in rq_queue.scheduled_job_registry


def allocate_waitlists() -> int:
    """Safety net for a lost ``waitlist-allocation`` message: offer any free places to waiting entries."""
    return waitlist.allocate_all()
