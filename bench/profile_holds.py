"""Where the web worker's time goes per hold, next to ``GET /health``: py-spy samples and CPU times under load.

Usage: ``python3 -m pip install --target .state/py-spy py-spy`` once, then
``.venv/bin/python bench/profile_holds.py [--clients 8] [--seconds 12]``

Starts the same stack as ``bench/holds.py`` (gunicorn as in the Procfile), drives holds and then ``/health``
at ``--clients`` keep-alive clients, and during each phase reads two things off the gunicorn worker:

- its CPU time per request, user and system (``/proc``), which is what sets requests per second: the worker
  is pinned to one CPU (``gunicorn.conf.py``) and keeps it busy;
- where its Python time goes, with ``py-spy record --gil``: only the thread holding the GIL is sampled, and
  each sample is charged to the first part below whose function is on its stack; "server" is everything
  outside Flask's ``wsgi_app`` (gunicorn's loop, HTTP parsing, thread hand-offs). While every thread waits
  on the network, py-spy charges the sample to the thread that held the GIL last, so parts that wait (the
  statements, Redis calls) read somewhat high. cProfile, by contrast, charges its own overhead per call and
  so overstates call-heavy code such as SQLAlchemy's.

The rest of the CPU time, outside the GIL, is the kernel's (sockets, switching between threads) and C code
that runs without the GIL (libpq, hiredis).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.holds import SEATS, _SeatSupply, drive
from bench.stack import ROOT, bench_stack, make_users

PY_SPY = ROOT / ".state" / "py-spy"
RATE = 250  # samples per second

# (part, the function whose presence on the stack puts a sample in it), first match wins.
PARTS = [
    ("server (outside the app)", None),
    ("caller: bearer token, user", "api_user (atomicseats/auth.py"),
    ("rate limit", "enforce (atomicseats/ratelimit.py"),
    ("body parsing", "json_body (atomicseats/api/common.py"),
    ("hold statements (psycopg2)", "atomicseats/dbapi.py"),
    ("Redis gate", "atomicseats/booking/gate.py"),
    ("live updates", "atomicseats/booking/publish.py"),
    ("Session: transaction, commit", "sqlalchemy/orm/"),
    ("rest of the hold engine", "atomicseats/booking/holds.py"),
    ("before_request hooks", "preprocess_request (flask/app.py"),
    ("after_request hooks", "process_response (flask/app.py"),
    ("rest of Flask", ""),
]


def _part(frames: list[str]) -> str:
    if not any("wsgi_app (flask/app.py" in f for f in frames):
        return PARTS[0][0]
    for part, marker in PARTS[1:]:
        if any(marker in f for f in frames):
            return part
    raise AssertionError("unreachable: the last part matches every stack")


def _sample(worker: int, seconds: float, out: Path) -> subprocess.Popen:
    command = [str(PY_SPY / "bin" / "py-spy"), "record", "-p", str(worker), "-d", str(round(seconds))]
    command += ["-r", str(RATE), "--gil", "--nonblocking", "--format", "raw", "-o", str(out)]
    return subprocess.Popen(
        command, env={**os.environ, "PYTHONPATH": str(PY_SPY)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _per_request(raw: Path, requests: float) -> dict[str, float]:
    """Milliseconds of GIL time per request, by part."""
    samples: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            samples[_part(stack.split(";"))] += int(count)
    return {part: n / RATE * 1000 / requests for part, n in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    if not (PY_SPY / "bin" / "py-spy").exists():
        raise SystemExit(f"py-spy is missing: python3 -m pip install --target {PY_SPY} py-spy")
    with tempfile.TemporaryDirectory() as tmp, bench_stack(Path(tmp)) as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        conn = stack.connect()
        ((_, host_token),) = make_users(conn, 1, role="host")
        seats = _SeatSupply(port, host_token, make_users(conn, SEATS))
        conn.close()
        (worker,) = stack.web.children()
        phases = {
            "hold": seats.take(int(args.seconds * 600) + 2000),
            "/health": [("GET", "/health", None, {})] * 200_000,
        }
        figures = {}
        for name, jobs in phases.items():
            raw = Path(tmp) / f"{name.strip('/')}.raw"
            spy = _sample(worker, args.seconds + 1, raw)
            before = _cpu_seconds(worker)
            result = drive(port, jobs, args.clients, 1.0, args.seconds)
            after = _cpu_seconds(worker)
            if spy.wait() != 0:
                raise SystemExit(f"py-spy failed: {spy.stderr.read().decode()}")
            # both also saw the warm-up second: count its requests at the measured rate
            requests = result["rps"] * (args.seconds + 1)
            cpu = tuple((b - a) * 1000 / requests for a, b in zip(before, after, strict=True))
            figures[name] = (result, _per_request(raw, requests), cpu)

    cpu = {name: figures[name][2] for name in figures}
    print(f"\nCPU time of the web worker per request (ms), {args.clients} clients, from /proc\n")
    print(f"{'':<32} {'hold':>7} {'/health':>8}")
    for i, kind in enumerate(("user", "system")):
        print(f"{kind:<32} {cpu['hold'][i]:>7.3f} {cpu['/health'][i]:>8.3f}")
    print(f"{'total':<32} {sum(cpu['hold']):>7.3f} {sum(cpu['/health']):>8.3f}")
    print(f"\nGIL time of the web worker per request (ms), {args.clients} clients, py-spy at {RATE} Hz\n")
    print(f"{'part':<32} {'hold':>7} {'/health':>8}")
    for part, _ in PARTS:
        hold, health = (figures[name][1].get(part, 0.0) for name in ("hold", "/health"))
        print(f"{part:<32} {hold:>7.3f} {health:>8.3f}")
    totals = {name: sum(parts.values()) for name, (_, parts, _) in figures.items()}
    print(f"{'total':<32} {totals['hold']:>7.3f} {totals['/health']:>8.3f}")
    rps = {name: result["rps"] for name, (result, _, _) in figures.items()}
    print(
        f"\nrequests/s: hold {rps['hold']:.0f}, /health {rps['/health']:.0f} "
        f"(ratio {rps['hold'] / rps['/health']:.0%}); /health's over a hold's: CPU time "
        f"{sum(cpu['/health']) / sum(cpu['hold']):.0%}, GIL time {totals['/health'] / totals['hold']:.0%}"
    )


if __name__ == "__main__":
    main()
