"""The pipeline's CPU per booking: relay and dispatcher, confirmation workers, mailer, SMTP sink, broker.

Usage: ``.venv/bin/python bench/pipeline_cpu.py [--bookings 400] [--rounds 3]``

In a flash sale the pipeline's processes share the two cores with the web tier, so their CPU per booking is
taken from the buyers; the sale itself (``bench/flash_sale.py``) spreads by a fifth from run to run, which
hides a change of a few percent. This starts the whole stack as the sale does (``SaleStack``: the Procfile's
processes on their own database, Redis prefix and broker), holds one place for each of ``--bookings`` buyers,
then checks them all out at once from one client and waits until every booking is confirmed and emailed. Each
process's own CPU (``/proc``, user + system, its children included) over that window, less what it burns
idle over as long (measured just before), divided by the bookings: the cost of a booking, not of waiting.
Prints the median over ``--rounds``, after a round that warms every process up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.flash_sale import CARD_OK, Http, create_ga_event, prepare_users, sale_stack, wait_settled
from bench.stack import cpu_seconds, print_medians, rounds_after_warm_up

IDLE_SECONDS = 3.0


def group_of(name: str, pid: int) -> str:
    if not name.startswith("rq-worker"):
        return name
    return "rq mailer" if b"notifications" in Path(f"/proc/{pid}/cmdline").read_bytes() else "rq bookings"


def snapshot(processes: list[tuple[str, int]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for group, pid in processes:
        out[group] = out.get(group, 0.0) + cpu_seconds(pid, descendants=True)
    return out


def one_round(stack, host_token: str, tokens: list[str]) -> dict[str, float]:
    """Pipeline CPU milliseconds per booking for each process group, idle burn taken off."""
    url, n = stack.urls[0], len(tokens)
    event = create_ga_event(url, host_token, capacity=n)
    client = Http(url)
    holds = []
    for token in tokens:
        status, hold, _ = client.call("POST", f"/api/v1/events/{event}/holds", token, {"quantity": 1})
        assert status == 201, hold
        holds.append(hold["id"])
    processes = [(group_of(name, pid), pid) for name, pid in stack.processes() if not name.startswith("web")]
    idle_from, idle_began = snapshot(processes), time.perf_counter()
    time.sleep(IDLE_SECONDS)  # measures the idle burn: the window is a fixed span, not a wait for a condition
    idle_to, idle_span = snapshot(processes), time.perf_counter() - idle_began
    began = time.perf_counter()
    for token, hold_id in zip(tokens, holds, strict=True):
        body = {"hold_id": hold_id, "payment": {"card_number": CARD_OK}}
        status, booking, _ = client.call("POST", "/api/v1/bookings", token, body, uuid.uuid4().hex)
        assert status == 202, booking
    client.close()
    wait_settled(stack, event, timeout=120)
    after, span = snapshot(processes), time.perf_counter() - began
    out = {}
    for group in after:
        idle_rate = (idle_to[group] - idle_from[group]) / idle_span
        out[group] = (after[group] - idle_to[group] - idle_rate * span) * 1000 / n
    out["(window, s)"] = span
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=400, help="bookings per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        sale_stack(Path(tmp), workers=2) as stack,  # two bookings workers, as dev.sh and flash_sale.py run them
    ):
        rounds = rounds_after_warm_up(args.rounds, lambda: one_round(stack, *prepare_users(stack, args.bookings)))
    print_medians(f"pipeline CPU per booking (ms), median of {args.rounds} rounds of {args.bookings}", rounds)


if __name__ == "__main__":
    main()
