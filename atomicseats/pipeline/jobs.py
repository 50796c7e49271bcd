"""RQ jobs and how they are enqueued: thin callers of the booking engine, one Flask app per worker process.

The dispatcher hands over what one Kafka poll (and, while a queue has a job waiting, the polls after it)
brought as one job per queue: ``confirm_bookings`` confirms each booking in its own transaction and
``send_notifications`` sends each email over one SMTP connection. A job's fixed cost in RQ (dequeue,
heartbeat, status and result bookkeeping: a dozen Redis round trips) is then paid once per batch, not once
per booking and once per email (docs/decisions/0024-pipeline-batches.md). Each message's dispatch is marked
in Redis with its job's id, in the transaction that enqueues the job, so a redelivered message enqueues
nothing new and the re-drive can tell whether a booking's job still waits in its queue. Single jobs (a
re-drive, an admin's replay, an email that failed in its batch) keep ids derived from what they act on
(``confirm-<booking id>-redrive-…``, ``notify-<message id>…``). Emails are retried with
backoff (RQ ``Retry``; the worker runs ``--with-scheduler``), and after the last attempt the message is
parked in ``dead_letters`` for an admin to see and replay; a confirmation is re-driven by the scheduler and
parked after ``CONFIRM_MAX_ATTEMPTS`` raises (``pipeline/dead_letters.py``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from typing import Any

import redis
import sqlalchemy.exc
from flask import Flask, current_app
from rq import Queue, Retry, get_current_job
from rq.job import Job

from atomicseats import emails
from atomicseats.booking import booking_reads, checkout, waitlist
from atomicseats.exceptions import Busy
from atomicseats.extensions import db, mail, redis_ext
from atomicseats.logs import request_id_bound
from atomicseats.pipeline import dead_letters

log = logging.getLogger(__name__)
BOOKINGS_QUEUE = "bookings"
NOTIFICATIONS_QUEUE = "notifications"

FAILED_JOB_TTL_SECONDS = 7 * 24 * 3600  # how long RQ keeps a failed job, and a dispatch mark as long

_app: Flask | None = None
_app_lock = threading.Lock()


def worker_app() -> Flask:
    """The worker process's app, created on first use and kept: workers run ``worker.AppWorker`` (a
    ``SimpleWorker``: one process), which builds it before it waits for its first job."""
    global _app
    with _app_lock:
        if _app is None:
            from atomicseats import create_app

            _app = create_app()
        return _app


def _in_app(fn: Any, *args: Any) -> Any:
    app = current_app._get_current_object() if _has_app() else worker_app()
    with app.app_context():
        try:
            return fn(*args)
        finally:
            db.session.remove()


def _has_app() -> bool:
    from flask import has_app_context

    return has_app_context()


# --- job functions (run in the worker) ------------------------------------------------------------------


def confirm_booking(booking_id: str, message_id: str | None = None, request_id: str | None = None) -> str:
    """Confirm or fail one booking; one whose confirmation keeps raising is parked as a dead letter.

    A raise leaves the booking pending and the scheduler re-drives it. Each raise counts, except when the
    database or Redis could not be reached (the next re-drive will do), and at ``CONFIRM_MAX_ATTEMPTS`` the
    booking is parked: re-driving a confirmation that fails the same way every time only fills the logs.
    """
    try:
        outcome = _in_app(_confirm_under_request_id, booking_id, message_id, request_id)
    except Exception as exc:
        if _unreachable(exc):
            raise
        if not _in_app(_count_failure, booking_id, message_id, f"{type(exc).__name__}: {exc}"):
            raise
        log.exception("booking %s: confirmation failed for good; parked as a dead letter", booking_id)
        return "parked"
    return outcome.status


def _unreachable(exc: Exception) -> bool:
    """The database or Redis could not run the job just now (down, restarting, a lost connection, a deadlock
    or timeout, a lock held past the lock timeout): no evidence against the booking."""
    return isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError | redis.RedisError | Busy)


def _count_failure(booking_id: str, message_id: str | None, error: str) -> bool:
    attempts = dead_letters.failed_attempt(booking_id)
    if attempts < current_app.config["CONFIRM_MAX_ATTEMPTS"]:
        log.warning("booking %s: confirmation raised (attempt %d); the re-drive runs it again", booking_id, attempts)
        return False
    return dead_letters.park_booking(booking_id, message_id, error, attempts)


def _confirm_under_request_id(booking_id: str, message_id: str | None, request_id: str | None) -> checkout.Outcome:
    """Confirm under the id of the API request that started the booking: its log lines and email carry it.

    The Kafka message brings the id along; a re-drive or a replay, which has no message, reads it from the
    booking (a query the confirmation's own two statements would otherwise wait behind).
    """
    if request_id is None:
        request_id = booking_reads.request_id_of(booking_id)
    with request_id_bound(request_id):
        outcome = checkout.confirm_booking(booking_id, message_id)
        log.info("booking %s: %s", booking_id, outcome.status, extra={"booking_id": booking_id})
        return outcome


def confirm_bookings(items: list[tuple[str, str | None, str | None]]) -> dict[str, str]:
    """Confirm a dispatcher batch, each ``(booking id, message id, request id)`` as ``confirm_booking`` does.

    One booking's raise does not stop the others (each has its own transaction); the job raises the first
    error at the end, so RQ records it as failed, and the bookings it left pending are re-driven.
    """
    statuses: dict[str, str] = {}
    first_error: Exception | None = None
    for booking_id, message_id, request_id in items:
        try:
            statuses[booking_id] = confirm_booking(booking_id, message_id, request_id)
        except Exception as exc:
            log.warning("booking %s: confirmation raised in a batch (%s); the re-drive runs it again", booking_id, exc)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return statuses


def allocate_waitlist(event_id: int) -> int:
    return len(_in_app(waitlist.allocate, event_id))


def send_notification(payload: dict[str, Any], message_id: str) -> bool:
    """Send one email; on failure let RQ retry it, and after the last retry park it as a dead letter."""
    try:
        return _in_app(emails.send, payload, message_id)
    except Exception as exc:
        job = get_current_job()
        if job is not None and job.retries_left:
            raise  # RQ schedules the next attempt
        log.exception("email %s failed for good; parked as a dead letter", message_id)
        attempts = len(job.retry_intervals or []) + 1 if job is not None else 1
        _in_app(dead_letters.park_email, message_id, payload, f"{type(exc).__name__}: {exc}", attempts)
        return False


def send_notifications(items: list[tuple[dict[str, Any], str]]) -> int:
    """Send a dispatcher batch of emails over one SMTP connection; returns how many were sent.

    An email that fails here is handed to a job of its own, with the usual retries and, after the last, a
    dead letter: the batch never retries (it would send the others again, were the duplicate check to fail).
    """
    return _in_app(_send_batch, items)


def _send_batch(items: list[tuple[dict[str, Any], str]]) -> int:
    sent = 0
    smtp = _SmtpSession()
    try:
        for payload, message_id in items:
            try:
                sent += emails.send(payload, message_id, connection=smtp.connection())
            except Exception as exc:
                log.warning("email %s failed in a batch (%s); it goes on alone, with retries", message_id, exc)
                enqueue_notification(payload, message_id, job_id=f"notify-{message_id}-alone")
                smtp.close()  # after a failure the session may be in any state: the next email opens a fresh one
    finally:
        smtp.close()
    return sent


class _SmtpSession:
    """One SMTP connection for a batch, opened on first use."""

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._connection: Any = None

    def connection(self) -> Any:
        if self._stack is None:
            stack = contextlib.ExitStack()
            self._connection = stack.enter_context(mail.connect())
            self._stack = stack
        return self._connection

    def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._connection = self._stack, None, None
            with contextlib.suppress(Exception):  # QUIT on a broken connection
                stack.close()


# --- enqueueing (dispatcher, re-drive, admin replay) ------------------------------------------------------


def queue(name: str) -> Queue:
    return Queue(current_app.config["REDIS_PREFIX"] + name, connection=redis_ext.client)


def _job_options() -> dict[str, Any]:
    """What every job of ours is enqueued with: its time limit, and how long RQ keeps its result or failure."""
    return {"timeout": current_app.config["RQ_JOB_TIMEOUT"], "result_ttl": 3600, "failure_ttl": FAILED_JOB_TTL_SECONDS}


def _enqueue_once(queue_name: str, job_id: str, func: Any, *args: Any, **options: Any) -> bool:
    """Enqueue unless a job with this id exists (queued, running or done): a redelivery adds nothing."""
    q = queue(queue_name)
    if Job.exists(job_id, connection=q.connection):
        return False
    q.enqueue_call(func, args=args, job_id=job_id, **_job_options(), **options)
    return True


def _dispatched_key(subject: str) -> str:
    return redis_ext.key("dispatched", subject)


def dispatched_job(subject: str) -> str | None:
    """The id of the dispatcher's job for a booking id or an email's message id, while its mark lasts."""
    job_id = redis_ext.client.get(_dispatched_key(subject))
    return job_id.decode() if job_id is not None else None


def _enqueue_batch(queue_name: str, prefix: str, func: Any, items: list[tuple[str, tuple[Any, ...]]]) -> int:
    """Enqueue one job for the ``(subject, args)`` items not dispatched before; returns how many it carries.

    The job and the marks of its subjects are written in one MULTI/EXEC: after a crash either both are in
    Redis (a redelivery finds the marks and adds nothing) or neither is (the redelivery enqueues them).
    """
    unique = list(dict(items).items())  # a message twice in one poll is one
    marks = redis_ext.client.mget([_dispatched_key(subject) for subject, _ in unique])
    fresh = [(subject, args) for (subject, args), mark in zip(unique, marks, strict=True) if mark is None]
    if not fresh:
        return 0
    job_id = f"{prefix}-{fresh[0][0]}" + (f"-and-{len(fresh) - 1}" if len(fresh) > 1 else "")
    with redis_ext.client.pipeline(transaction=True) as pipe:
        queue(queue_name).enqueue_call(
            func, args=([args for _, args in fresh],), job_id=job_id, pipeline=pipe, **_job_options()
        )
        for subject, _ in fresh:
            pipe.set(_dispatched_key(subject), job_id, ex=FAILED_JOB_TTL_SECONDS)
        pipe.execute()
    return len(fresh)


def enqueue_confirms(messages: list[tuple[dict[str, Any], str]]) -> int:
    """One ``confirm_bookings`` job for the ``booking-requests`` messages ``(payload, message id)`` of a batch."""
    items = [(p["booking_id"], (p["booking_id"], message_id, p.get("request_id"))) for p, message_id in messages]
    return _enqueue_batch(BOOKINGS_QUEUE, "confirm", confirm_bookings, items)


def enqueue_notifications(messages: list[tuple[dict[str, Any], str]]) -> int:
    """One ``send_notifications`` job for the ``notifications`` messages ``(payload, message id)`` of a batch."""
    items = [(message_id, (payload, message_id)) for payload, message_id in messages]
    return _enqueue_batch(NOTIFICATIONS_QUEUE, "notify", send_notifications, items)


def enqueue_confirm(
    booking_id: str, message_id: str | None = None, request_id: str | None = None, *, redrive: bool = False
) -> bool:
    job_id = f"confirm-{booking_id}"
    if redrive:  # the first job may be stuck as "started" by a dead worker: a fresh id, same idempotent work
        job_id += f"-redrive-{uuid.uuid4().hex[:8]}"
    return _enqueue_once(BOOKINGS_QUEUE, job_id, confirm_booking, str(booking_id), message_id, request_id)


def enqueue_allocation(event_id: int, message_id: str) -> bool:
    return _enqueue_once(BOOKINGS_QUEUE, f"allocate-{message_id}", allocate_waitlist, int(event_id))


def email_retry() -> Retry:
    intervals = [int(x) for x in str(current_app.config["EMAIL_RETRY_INTERVALS"]).split(",") if x.strip()]
    return Retry(max=len(intervals), interval=intervals)


def enqueue_notification(payload: dict[str, Any], message_id: str, job_id: str | None = None) -> bool:
    return _enqueue_once(
        NOTIFICATIONS_QUEUE,
        job_id or f"notify-{message_id}",
        send_notification,
        payload,
        message_id,
        retry=email_retry(),
    )
