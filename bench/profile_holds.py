"""Where the web worker's time goes per hold, next to ``GET /health``: py-spy samples and CPU times under load.

Usage: ``python3 -m pip install --target .state/py-spy py-spy`` once, then
``.venv/bin/python bench/profile_holds.py [--clients 8] [--seconds 12]``

Starts the same stack as ``bench/holds.py`` (gunicorn as in the Procfile), drives holds and then ``/health``
at ``--clients`` keep-alive clients, and during each phase reads two things:

- CPU time per request (``/proc``) of the gunicorn worker (user and system), of PostgreSQL's and Redis's
  processes and of the whole machine. These services and the load generator share the machine's cores and
  keep them busy, so the machine's CPU time per request is what sets requests per second;
- where the worker's Python time goes, with ``py-spy record --gil``: only the thread holding the GIL is
  sampled, and each sample is charged to the first part below whose function is on its stack; "server" is
  everything outside Flask's ``wsgi_app`` (gunicorn's loop, HTTP parsing, thread hand-offs). While every
  thread waits on the network, py-spy charges the sample to the thread that held the GIL last, so parts that
  wait (the statements, Redis calls) read somewhat high. cProfile, by contrast, charges its own overhead per
  call and so overstates call-heavy code such as SQLAlchemy's.

The rest of the worker's CPU time, outside the GIL, is the kernel's (sockets, switching between threads) and
C code that runs without the GIL (libpq, hiredis).
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
    ("rest of the hold engine", "atomicseats/booking/claims.py"),
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


_PROCESSES = ("web worker, user", "web worker, system", "PostgreSQL", "Redis")
_REST = "rest (clients, py-spy, kernel)"


def _cpu_snapshot(worker: int) -> dict[str, float]:
    """CPU seconds used so far: the web worker's (user, system), PostgreSQL's and Redis's processes', and the
    whole machine's busy and idle time, so that a phase's figures show who spent the two cores."""
    tick = os.sysconf("SC_CLK_TCK")

    def user_system(pid: int | str) -> tuple[float, float]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / tick, int(fields[12]) / tick

    by_name: collections.Counter[str] = collections.Counter()
    for proc in Path("/proc").iterdir():
        try:
            name = (proc / "comm").read_text().strip() if proc.name.isdigit() else ""
            if name in ("postgres", "redis-server"):
                by_name[name] += sum(user_system(proc.name))
        except OSError:  # the process ended while being read
            continue
    cpu = [int(v) / tick for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, system = user_system(worker)
    return {
        "web worker, user": user,
        "web worker, system": system,
        "PostgreSQL": by_name["postgres"],
        "Redis": by_name["redis-server"],
        "machine busy": sum(cpu) - cpu[3] - cpu[4],
        "machine idle": cpu[3] + cpu[4],
    }


def _worker(cpu: dict[str, float]) -> float:
    return cpu["web worker, user"] + cpu["web worker, system"]


def _per_request(raw: Path, requests: float) -> dict[str, float]:
    """Milliseconds of GIL time per request, by part."""
    samples: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():  # a frame name with a newline in it splits its line; drop the pieces
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
            before = _cpu_snapshot(worker)
            result = drive(port, jobs, args.clients, 1.0, args.seconds)
            after = _cpu_snapshot(worker)
            if spy.wait() != 0:
                raise SystemExit(f"py-spy failed: {spy.stderr.read().decode()}")
            # both also saw the warm-up second: count its requests at the measured rate
            requests = result["rps"] * (args.seconds + 1)
            cpu = {key: (after[key] - before[key]) * 1000 / requests for key in after}
            cpu[_REST] = cpu["machine busy"] - sum(cpu[key] for key in _PROCESSES)
            cpu = {key: cpu[key] for key in (*_PROCESSES, _REST, "machine busy", "machine idle")}
            figures[name] = (result, _per_request(raw, requests), cpu)

    cpu = {name: figures[name][2] for name in figures}
    cores = os.cpu_count()
    print(f"\nCPU time per request (ms), {args.clients} clients, from /proc ({cores} cores, all counted)\n")
    print(f"{'':<40} {'hold':>7} {'/health':>8}")
    for row in cpu["hold"]:
        print(f"{row:<40} {cpu['hold'][row]:>7.3f} {cpu['/health'][row]:>8.3f}")
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
        f"{_worker(cpu['/health']) / _worker(cpu['hold']):.0%} in the worker, "
        f"{cpu['/health']['machine busy'] / cpu['hold']['machine busy']:.0%} on the machine; "
        f"GIL time {totals['/health'] / totals['hold']:.0%}"
    )


if __name__ == "__main__":
    main()
