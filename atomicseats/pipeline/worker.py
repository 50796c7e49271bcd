"""The RQ worker class every start of a worker uses (Procfile, compose, tests, benches)."""

from __future__ import annotations

from typing import Any

from rq.worker import SimpleWorker

from atomicseats.pipeline import jobs


class AppWorker(SimpleWorker):
    """RQ's ``SimpleWorker`` (jobs run in the worker's own process, which keeps one app) that builds the Flask
    app before it waits for its first job instead of inside it.

    Built lazily, the app's imports and setup ran inside the first confirmation a new worker took: a worker
    started (or restarted) just before an on-sale made the sale's first buyers wait seconds for it. It is built
    once the work loop runs, not when the worker is made: ``--with-scheduler`` forks RQ's scheduler process
    first, and that process needs no app (built earlier, every forked scheduler carried a copy of it).
    """

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        jobs.worker_app()  # made on the first call, kept after
        return super().dequeue_job_and_maintain_ttl(*args, **kwargs)
