"""gunicorn.conf.py, which every start of the web server reads: each worker keeps its threads on one CPU."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest
import requests

from tests.services import ROOT, start_web

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs or more")


def _thread_affinities(pid: int) -> list[set[int]]:
    return [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]


def _start(server_env: dict[str, str], run_dir: Path, name: str, pin: str, **env: str):
    log_dir = run_dir / name
    log_dir.mkdir()
    return start_web({**server_env, "WEB_PIN_CPU": pin, **env}, log_dir)


@pytest.mark.parametrize(("setting", "pinned"), [("1", True), ("0", False)])
def test_the_worker_and_its_request_threads_run_on_one_cpu_unless_turned_off(
    server_env: dict[str, str], run_dir: Path, setting: str, pinned: bool
) -> None:
    proc, url = _start(server_env, run_dir, f"web-pin-{setting}", setting)
    try:
        workers = proc.children()
        assert len(workers) == max(1, len(os.sched_getaffinity(0)) - 1), "one per CPU but one, by default"
        for _ in range(16):  # request threads start after the pin and must inherit it
            assert requests.get(url + "/health", timeout=5).status_code == 200
        per_worker = [_thread_affinities(worker) for worker in workers]
        assert max(map(len, per_worker)) > 2, "the workers should have started request threads"
        for affinities in per_worker:
            if pinned:
                assert len(affinities[0]) == 1
                assert all(cpus == affinities[0] for cpus in affinities)
            else:
                assert all(cpus == os.sched_getaffinity(0) for cpus in affinities)
    finally:
        proc.stop()


def test_web_processes_on_one_machine_spread_over_the_cpus(server_env: dict[str, str], run_dir: Path) -> None:
    """As in a scale-out on one host: two web processes pinned to the same CPU would share one core.

    Other web servers of this run (the session's live server) may be pinned already, so the check is on the
    whole machine: the pinned workers per CPU differ by one at most.
    """
    pinned_workers = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["_pinned_workers"]
    first, _ = _start(server_env, run_dir, "web-spread-a", "1", WEB_CONCURRENCY="1")
    try:
        second, _ = _start(server_env, run_dir, "web-spread-b", "1", WEB_CONCURRENCY="1")
        try:
            ours = [os.sched_getaffinity(worker) for proc in (first, second) for worker in proc.children()]
            per_cpu = pinned_workers()
        finally:
            second.stop()
    finally:
        first.stop()
    assert all(len(cpus) == 1 for cpus in ours), ours
    counts = [per_cpu[cpu] for cpu in os.sched_getaffinity(0)]
    assert max(counts) - min(counts) <= 1, per_cpu


def test_the_workers_run_at_a_lower_cpu_priority_than_the_pipeline(server_env: dict[str, str], run_dir: Path) -> None:
    """A sale's request threads must not starve the confirmations (gunicorn.conf.py, WEB_NICE)."""
    proc, _ = _start(server_env, run_dir, "web-nice", "1")
    try:
        master = os.getpriority(os.PRIO_PROCESS, proc.popen.pid)
        workers = [os.getpriority(os.PRIO_PROCESS, worker) for worker in proc.children()]
    finally:
        proc.stop()
    assert workers and all(nice == min(master + 5, 19) for nice in workers), (master, workers)


def test_every_worker_reports_every_workers_requests_on_metrics(server_env: dict[str, str], run_dir: Path) -> None:
    """With several workers, /metrics is answered by any of them; each must count all of them."""
    proc, url = _start(server_env, run_dir, "web-metrics", "1", WEB_CONCURRENCY="2")
    try:
        session = requests.Session()
        for _ in range(30):
            assert session.get(url + "/health", timeout=5).status_code == 200
        seen = set()
        for _ in range(8):  # new connections land on different workers
            body = requests.get(url + "/metrics", timeout=10, headers={"Connection": "close"}).text
            line = next(
                line
                for line in body.splitlines()
                if line.startswith("atomicseats_http_requests_total") and 'endpoint="ops.health"' in line
            )
            seen.add(float(line.rsplit(" ", 1)[1]))
    finally:
        proc.stop()
    (count,) = seen  # the same figure from every worker (its own counter alone would differ)
    assert count >= 30  # and /health's startup checks
