"""gunicorn.conf.py, which every start of the web server reads: each worker keeps its threads on one CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.services import start_web

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs or more")


def _thread_affinities(pid: int) -> list[set[int]]:
    return [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]


@pytest.mark.parametrize(("setting", "pinned"), [("1", True), ("0", False)])
def test_the_worker_and_its_request_threads_run_on_one_cpu_unless_turned_off(
    server_env: dict[str, str], run_dir: Path, setting: str, pinned: bool
) -> None:
    log_dir = run_dir / f"web-pin-{setting}"
    log_dir.mkdir()
    proc, url = start_web({**server_env, "WEB_PIN_CPU": setting}, log_dir)
    try:
        (worker,) = proc.children()
        for _ in range(8):  # request threads start after the pin and must inherit it
            assert requests.get(url + "/health", timeout=5).status_code == 200
        affinities = _thread_affinities(worker)
        assert len(affinities) > 2, "the worker should have started request threads"
        if pinned:
            assert len(affinities[0]) == 1
            assert all(cpus == affinities[0] for cpus in affinities)
        else:
            assert all(cpus == os.sched_getaffinity(0) for cpus in affinities)
    finally:
        proc.stop()
