"""gunicorn settings that every start of the web server picks up (gunicorn reads ``./gunicorn.conf.py``).

The Procfile, the Docker image, the tests and the benches all start gunicorn from the repository root with
only a bind address, so this file is the one shipped configuration of the web tier.

One gthread worker per CPU but one by default (``WEB_CONCURRENCY``): a worker's Python runs on one core at a
time (the GIL), so more cores want more workers, but the web tier shares the machine with the confirmation
workers, PostgreSQL and Redis, and a sale's polling buyers keep every web worker busy. On two cores a second
web worker took the pipeline's core and confirmations waited 20 times longer (docs/decisions/0015). Several
workers need no sticky sessions: the seat map talks to the realtime process over WebSocket, and live
updates reach every process through Redis.

Each worker is kept on one CPU. Its threads share one GIL, so the worker runs Python on one core at a time
anyway, but every blocking call (a PostgreSQL statement, a Redis command, the client's socket) hands the GIL
to another thread. With the threads spread over several cores, each hand-off wakes a thread on another core:
an inter-processor interrupt and a context switch, which in a virtual machine cost more than the Python they
make room for. On one core the woken thread simply runs next. Measurements: docs/benchmarks.md and
docs/decisions/0003-web-worker-pinned-to-one-cpu.md.
PostgreSQL, Redis and everything else stay free to use every core. ``WEB_PIN_CPU=0`` turns this off.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or max(1, len(os.sched_getaffinity(0)) - 1))
threads = int(os.environ.get("WEB_THREADS", "100"))
control_socket_disable = True  # two servers on one machine would fight over ~/.gunicorn's socket
# Idle keep-alive connections wait in the worker's poller, not on a thread; gunicorn's 2 s default made
# clients that pause between requests (a buyer reading a seat map) reconnect, or hit a reset on reuse.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "30"))

# Several workers answer /metrics in turn, so each must report every worker's requests: prometheus_client's
# multiprocess mode keeps the counters in files in this folder (set before any worker imports the client).
if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="atomicseats-metrics-")


def _current_cpu() -> int | None:
    """The CPU this process runs on (``/proc/self/stat``, field 39), or None where there is no such file."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[36])


def _pinned_workers() -> Counter[int]:
    """How many other gunicorn processes on this machine are pinned to each CPU."""
    counts: Counter[int] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if b"gunicorn" not in (entry / "cmdline").read_bytes():
                continue
            cpus = os.sched_getaffinity(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        if len(cpus) == 1:
            counts[next(iter(cpus))] += 1
    return counts


def _lower_priority(server, worker) -> None:
    """Run the web tier at a lower CPU priority than the pipeline (``WEB_NICE``, default 5; 0 turns it off).

    On a machine the web tier shares with the RQ workers and the dispatcher, a sale's hundreds of request
    threads outnumber the one confirmation in flight, and the scheduler gives every runnable thread its turn:
    confirmations starved while buyers' refused holds and polls ran. Niced, the web tier still gets every
    cycle the pipeline does not want, and a confirmation (which frees or sells the places the buyers wait for)
    runs first.
    """
    nice = int(os.environ.get("WEB_NICE", "5"))
    if nice > 0:
        os.nice(nice)
        server.log.info("worker %s at nice %s (WEB_NICE=0 turns this off)", worker.pid, nice)


def post_fork(server, worker) -> None:
    _lower_priority(server, worker)
    _pin(server, worker)


def _pin(server, worker) -> None:
    """Pin the new worker (its one thread so far, which every later thread inherits) to one CPU.

    The CPU is the one fewest other gunicorn workers are pinned to, so that several workers, or several web
    processes on one machine, spread over the cores; among equals, the one the kernel started the worker on.
    """
    if os.environ.get("WEB_PIN_CPU", "1") == "0" or not hasattr(os, "sched_setaffinity"):
        return
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        return
    taken, current = _pinned_workers(), _current_cpu()
    cpu = min(sorted(allowed), key=lambda c: (taken[c], c != current))
    os.sched_setaffinity(0, {cpu})
    server.log.info("worker %s pinned to CPU %s (WEB_PIN_CPU=0 turns this off)", worker.pid, cpu)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").startswith(tempfile.gettempdir() + "/atomicseats-metrics-"):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
