"""The real pipeline for tests: the dispatcher (with the outbox relay), an RQ worker and the scheduler run as
subprocesses on this run's database, Redis prefix, Kafka broker and SMTP sink, with short timings.

The ``pipeline``, ``pipeline_env`` and ``mailbox`` fixtures live in tests/conftest.py, so that the browser tests
and these share one stack: two would be two dispatchers and two workers on the same queues, and a test that
needs its own worker to take a job would see the other stack's worker take it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import text

from atomicseats.extensions import db
from atomicseats.smtp_sink import read_messages
from tests.services import VENV_BIN, Process, start_flask_command, wait_for

REDRIVE_AFTER_SECONDS = 10
SLOW_CARD_SECONDS = 4


class Pipeline:
    """The background processes, each restartable, so tests can kill one and bring it back."""

    running: ClassVar[list[Pipeline]] = []  # started and not stopped: the session's, once a test asked for it

    def __init__(self, env: dict[str, str], run_dir: Path):
        self.env = env
        self.run_dir = run_dir
        prefix = env["REDIS_PREFIX"]
        self.queues = [prefix + "bookings", prefix + "notifications"]
        self.workers: list[Process] = []
        self._rq_names: dict[Process, str] = {}
        self.dispatcher: Process | None = None
        self.scheduler: Process | None = None
        self._workers = 0

    def start_worker(
        self, *queues: str, worker_class: str = "atomicseats.pipeline.worker.AppWorker", **env: str
    ) -> Process:
        """An RQ worker as the Procfile runs it, on both queues unless ``queues`` name some."""
        self._workers += 1
        rq_name = f"{self.env['REDIS_PREFIX']}worker-{self._workers}"
        worker = Process(
            f"rq-worker-{self._workers}",
            [
                str(VENV_BIN / "rq"),
                "worker",
                "--url",
                self.env["REDIS_URL"],
                "-w",
                worker_class,
                "--with-scheduler",
                "--maintenance-interval",
                "30",
                "--name",
                rq_name,
                *(queues or self.queues),
            ],
            {**self.env, **env},
            self.run_dir,
        ).start()
        self.workers.append(worker)
        self._rq_names[worker] = rq_name
        return worker

    def kill_worker(self, redis_client: Any, worker: Process | None = None) -> None:
        """SIGKILL a worker's whole process group (the newest one by default): no cleanup, no graceful shutdown.

        The dead worker keeps RQ's scheduler lock (which runs delayed retries) until its 61 s TTL runs out and
        a live worker's maintenance (every 30 s, see the Procfile) takes it over; the suite expires the dead
        worker's own locks at once instead of waiting that minute and a half.
        """
        self.stop_worker(redis_client, worker, kill=True)

    def stop_worker(self, redis_client: Any, worker: Process | None = None, kill: bool = False) -> None:
        """Stop a worker (SIGTERM: RQ's warm shutdown, or SIGKILL with ``kill``) and free its scheduler locks."""
        worker = worker or self.workers[-1]
        if kill:
            worker.kill()
        worker.stop()  # after a kill, only closes its log
        self.workers.remove(worker)
        name = self._rq_names.pop(worker).encode()
        for queue in self.queues:
            key = f"rq:scheduler-lock:{queue}"
            if redis_client.get(key) == name:
                redis_client.delete(key)

    def start(self) -> None:
        self.start_dispatcher()
        self.scheduler = start_flask_command("pipeline-scheduler", ["pipeline", "scheduler"], self.env, self.run_dir)
        self.start_worker()
        Pipeline.running.append(self)

    def start_dispatcher(self) -> None:
        self.dispatcher = start_flask_command("dispatcher", ["pipeline", "dispatcher"], self.env, self.run_dir)

    @contextlib.contextmanager
    def dispatcher_stopped(self) -> Iterator[None]:
        """No relay and no consumer for a while (for a test that publishes the outbox itself), then as before."""
        assert self.dispatcher is not None
        self.dispatcher.stop()
        try:
            yield
        finally:
            self.start_dispatcher()

    def stop(self) -> None:
        for proc in (*self.workers, self.dispatcher, self.scheduler):
            if proc is not None:
                proc.stop()
        Pipeline.running.remove(self)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(30)}" for p in (self.dispatcher, *self.workers, self.scheduler) if p)


@pytest.fixture
def own_workers(pipeline: Pipeline, redis_client) -> Iterator[Pipeline]:
    """The pipeline with no worker, for the test to start its own (jobs wait in their queues meanwhile); one
    ordinary worker again afterwards."""
    for worker in list(pipeline.workers):
        pipeline.stop_worker(redis_client, worker)
    yield pipeline
    for worker in list(pipeline.workers):
        pipeline.stop_worker(redis_client, worker)
    pipeline.start_worker()


@pytest.fixture(autouse=True)
def _clean_dead_letters(app) -> Iterator[None]:
    yield
    with app.app_context():
        db.session.execute(text("TRUNCATE dead_letters"))
        db.session.commit()
        db.session.remove()


class Mailbox:
    def __init__(self, directory: Path):
        self.directory = directory

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in read_messages(self.directory) if address in m["X-RcptTo"]]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30) -> list[EmailMessage]:
        return wait_for(
            lambda: (msgs := self.to(address)) and len(msgs) >= count and msgs, timeout, f"{count} emails to {address}"
        )


def body_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def body_html(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
