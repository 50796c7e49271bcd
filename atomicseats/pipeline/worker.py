"""The RQ worker class every start of a worker uses (Procfile, compose, tests, benches)."""

from __future__ import annotations

from typing import Any

from rq.worker import SimpleWorker

from atomicseats.pipeline import jobs


class AppWorker(SimpleWorker):
    """RQ's ``SimpleWorker`` (jobs run in the worker's own process, which keeps one app) that builds the Flask
    app when it starts instead of in its first job.

    Built lazily, the app's imports and setup ran inside the first confirmation a new worker took: a worker
    started (or restarted) just before an on-sale made the sale's first buyers wait seconds for it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        jobs.worker_app()
