"""Open seat maps against the stack as the Procfile ships it: does ``../shared/tools/socket_starve.py`` starve
``/health``?

Usage: ``.venv/bin/python bench/socket_starve.py [1000 2000 ...] [--realtime-env NAME=VALUE ...]`` (under the
heavy-work lock). ``--realtime-env`` goes to the realtime process only: a setting under test, or a ``PYTHONPATH``
that loads a probe (a ``sitecustomize.py`` timing its garbage collections with ``gc.callbacks``).

Starts its own database and web process (``bench/stack.py``) and the realtime process from its Procfile line,
creates a reserved event of 400 seats, then for each N runs the shared tool with N maps against the realtime
process (maps connect there; pages are the web process's, so the tool's other probes answer 404 there) while a
thread per process asks its ``/health`` ten times a second. Prints the tool's output and ``/health`` p50/p99/max
of each process: in the 3 s before, over the whole run, and from halfway through the maps' opening until the
tool closed them (the tool closes them right after its own probes), with the wall-clock window of each N (to
line a probe's log up with it) and the realtime process's RSS before and after, and its peak.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.flash_sale import publish_new_event
from bench.stack import ROOT, bench_stack, make_users, percentile
from tests.services import VENV_BIN, start_realtime

TOOL = ROOT.parent / "shared" / "tools" / "socket_starve.py"
PROBE_EVERY_S = 0.1
Sample = tuple[float, float, bool]  # (epoch s, ms, answered 200)


def _probe(url: str, out: list[Sample], stop: threading.Event) -> None:
    session = requests.Session()
    while not stop.is_set():
        started = time.monotonic()
        try:
            ok = session.get(url + "/health", timeout=10).status_code == 200
        except requests.RequestException:
            ok = False
        out.append((time.time(), (time.monotonic() - started) * 1000, ok))
        time.sleep(PROBE_EVERY_S)


def _summary(samples: list[Sample], since: float, until: float) -> str:
    answered = [ms for at, ms, ok in samples if since <= at <= until and ok]
    failed = sum(1 for at, _, ok in samples if since <= at <= until and not ok)
    if not answered:
        return f"no answers ({failed} failed)"
    return (
        f"p50 {statistics.median(answered):.1f} / p99 {percentile(answered, 99):.1f} / max {max(answered):.1f} ms "
        f"(n {len(answered)}, failed {failed})"
    )


def _event(base: str, host: str) -> int:
    starts = datetime.now(UTC) + timedelta(days=5)
    rows = [{"label": f"R{r}", "seats": 40} for r in range(10)]
    body = {
        "name": "Open maps",
        "venue": "Bench Hall",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "seating": "reserved",
        "sections": [{"name": "Floor", "price_cents": 5000, "rows": rows}],
    }
    return publish_new_event(base, host, body)


def _rss_mb(pid: int) -> str:
    """Current and peak RSS of one process (the realtime process is one with REALTIME_PROCESSES=1)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return f"{int(fields['VmRSS'].split()[0]) / 1024:.0f} MB (peak {int(fields['VmHWM'].split()[0]) / 1024:.0f} MB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="*", default=[1000], help="maps to open, one run per size")
    parser.add_argument(
        "--realtime-env", action="append", default=[], metavar="NAME=VALUE", help="for the realtime process only"
    )
    args = parser.parse_args()
    sizes = args.sizes
    extra = dict(item.split("=", 1) for item in args.realtime_env)
    with tempfile.TemporaryDirectory() as tmp, bench_stack(Path(tmp)) as stack:
        realtime, rt_url = start_realtime(
            {**stack.env, "REALTIME_MAX_CONNECTIONS": str(max(sizes) + 100), **extra}, Path(tmp)
        )
        try:
            conn = stack.connect()
            ((_, host),) = make_users(conn, 1, role="host")
            conn.close()
            event_id = _event(stack.url, host)
            for n in sizes:
                web: list[Sample] = []
                rt: list[Sample] = []
                stop = threading.Event()
                probes = [
                    threading.Thread(target=_probe, args=(u, o, stop)) for u, o in ((stack.url, web), (rt_url, rt))
                ]
                for probe in probes:
                    probe.start()
                time.sleep(3)
                rss_before = _rss_mb(realtime.popen.pid)
                started = time.time()
                tool = subprocess.Popen(
                    [str(VENV_BIN / "python"), str(TOOL), rt_url, str(event_id), str(n)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                connected_at, lines = started, []
                assert tool.stdout is not None
                for line in tool.stdout:
                    lines.append(line.rstrip())
                    if line.startswith("connected"):
                        connected_at = time.time()
                tool.wait()
                ended = time.time()
                rss_after = _rss_mb(realtime.popen.pid)
                stop.set()
                for probe in probes:
                    probe.join()
                print(f"\n{n} maps (the tool against the realtime process):")
                print("\n".join(lines))
                print(f"opening {connected_at - started:.1f} s, then all {n} open {ended - connected_at:.1f} s")
                print(f"window (epoch s): {started:.3f} {connected_at:.3f} {ended:.3f}")
                print(f"realtime RSS before {rss_before}, after the tool closed its maps {rss_after}")
                half = started + (connected_at - started) / 2
                for name, samples in (("web /health", web), ("realtime /health", rt)):
                    print(f"{name}, 3 s before: {_summary(samples, started - 3, started)}")
                    print(f"{name}, whole run: {_summary(samples, started, ended)}")
                    print(f"{name}, from halfway through the opening: {_summary(samples, half, ended)}")
                time.sleep(5)
        finally:
            realtime.stop()


if __name__ == "__main__":
    main()
