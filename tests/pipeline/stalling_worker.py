"""An RQ worker that takes a job off its queue and then hangs before starting it, for a test to SIGKILL there.

That is the moment ``bench/chaos.py`` once hit by chance (the worker it killed looked idle): the job has left
its queue but was never put in the started registry, and RQ still calls it "queued".
"""

from __future__ import annotations

import os
import threading

from rq.job import Job
from rq.queue import Queue

from atomicseats.pipeline.worker import AppWorker


class StallingWorker(AppWorker):
    """Hangs on the first job whose id starts with ``$STALL_JOB_PREFIX``, after naming it in ``<prefix>stalled``."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        if job.id.startswith(os.environ["STALL_JOB_PREFIX"]):
            self.connection.set(os.environ["REDIS_PREFIX"] + "stalled", job.id)
            threading.Event().wait()
        super().execute_job(job, queue)
