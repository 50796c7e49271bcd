"""Seat map rendering: how fast a 20,000-seat map first appears, and how smooth zooming and panning are.

Usage: ``.venv/bin/python bench/seatmap_render.py [--runs 5]``

Starts its own database and gunicorn, creates a published event of 10 sections x 20 rows x 100 seats, and opens
its page in headless Chromium (Playwright, the same browser and flags as tests/browser) at 1280 x 900.

- First render: from navigation start to the first frame after the map is drawn (the seat list fetched, every
  seat element made and painted), read from the page's own clock. Median and max over ``--runs`` page loads.
- Frames while the view moves: the page zooms in step by step (wheel events), pans (Shift+arrow keys) and zooms
  out, one input per animation frame, and records the time between frames. p50/p95/max over all those frames.

Targets (issue 21): first render < 1 s, pan/zoom frames < 50 ms at p95. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import bench_stack, make_users, percentile
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

SECTIONS, ROWS, SEATS = 10, 20, 100
ROW_LABELS = [a + b for a in "ABCDEFGHIJ" for b in "ABCDEFGHJKLMNPQRSTUV"]

# Stamps the first frame after the map reports itself drawn (data-ready), before any page script runs.
FIRST_RENDER_PROBE = """
new MutationObserver(function (changes, observer) {
  var root = document.getElementById("booking");
  if (!root || root.dataset.ready !== "true") return;
  observer.disconnect();
  requestAnimationFrame(function () { setTimeout(function () { window.__firstRender = performance.now(); }); });
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-ready"] });
"""

# One input per frame: zoom in by wheel, pan by Shift+arrows, zoom out; the gaps between frames are the frame times.
MOVE_SCRIPT = """
async () => {
  const svg = document.getElementById("seatmap");
  const box = svg.getBoundingClientRect();
  const at = { clientX: box.left + box.width * 0.4, clientY: box.top + box.height * 0.3 };
  const wheel = (deltaY) => () => svg.dispatchEvent(
    new WheelEvent("wheel", { deltaY, ...at, bubbles: true, cancelable: true }));
  const pan = (key) => () => svg.dispatchEvent(
    new KeyboardEvent("keydown", { key, shiftKey: true, bubbles: true, cancelable: true }));
  const steps = [];
  for (let i = 0; i < 30; i++) steps.push(wheel(-120));
  for (const key of ["ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"])
    for (let i = 0; i < 15; i++) steps.push(pan(key));
  for (let i = 0; i < 30; i++) steps.push(wheel(120));
  const gaps = [];
  let last = await new Promise(requestAnimationFrame);
  for (const step of steps) {
    step();
    const now = await new Promise(requestAnimationFrame);
    gaps.push(now - last);
    last = now;
  }
  const after = await new Promise(requestAnimationFrame);
  gaps.push(after - last);
  return { gaps, scale: svg.dataset.scale };
}
"""


def make_event(url: str, token: str) -> int:
    starts = datetime.now(UTC) + timedelta(days=7)
    labels = iter(ROW_LABELS)
    body = {
        "name": "Seat map arena",
        "venue": "Bench",
        "seating": "reserved",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
        "sections": [
            {
                "name": f"Block {s + 1}",
                "price_cents": 9000 - 800 * s,
                "rows": [{"label": next(labels), "seats": SEATS, "accessible": [1, 2]} for _ in range(ROWS)],
            }
            for s in range(SECTIONS)
        ],
    }
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.post(url + "/api/v1/events", json=body, headers=headers, timeout=120)
    created.raise_for_status()
    event_id = created.json()["id"]
    requests.post(f"{url}/api/v1/events/{event_id}/publish", headers=headers, timeout=120).raise_for_status()
    return event_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-seatmap-") as logs, bench_stack(Path(logs)) as stack:
        conn = stack.connect()
        [(_, token)] = make_users(conn, 1, role="host")
        conn.close()
        event_id = make_event(stack.url, token)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
            context.add_init_script(FIRST_RENDER_PROBE)
            page = context.new_page()
            page.goto(f"/events/{event_id}")  # a warm-up load: server caches, compiled scripts
            page.wait_for_function("() => window.__firstRender", timeout=60_000)
            first: list[float] = []
            for _ in range(args.runs):
                page.goto(f"/events/{event_id}")
                first.append(page.wait_for_function("() => window.__firstRender", timeout=60_000).json_value())
            seats = page.locator("#seatmap [data-seat-id]").count()
            moves = page.evaluate(MOVE_SCRIPT)
            browser.close()
    gaps = moves["gaps"]
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, Chromium headless, --disable-gpu",
                "seat_elements_at_first_render": seats,
                "first_render_ms": {"median": round(statistics.median(first)), "max": round(max(first))},
                "frames": len(gaps),
                "frame_ms": {
                    "p50": round(percentile(gaps, 50), 1),
                    "p95": round(percentile(gaps, 95), 1),
                    "max": round(max(gaps), 1),
                },
                "deepest_zoom": moves["scale"],
                "targets": {"first_render_ms": 1000, "frame_ms_p95": 50},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
