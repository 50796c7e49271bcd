"""Seat map rendering: how fast a 20,000-seat map first appears, and how smooth zooming and panning are.

Usage: ``.venv/bin/python bench/seatmap_render.py [--runs 5] [--baseline REV ...]``

Starts its own database and gunicorn, creates a published event of 10 sections x 20 rows x 100 seats, and opens
its page in headless Chromium (Playwright, the same browser and flags as tests/browser) at 1280 x 900.

- First render: from navigation start to the first frame after the map is drawn (the seat list fetched, every
  seat element made and painted), read from the page's own clock. Median and max over ``--runs`` page loads.
- Frames while the view moves: the page zooms in step by step (wheel events), pans (Shift+arrow keys) and zooms
  out, one input per animation frame, and records the time between frames. p50/p95/max over all those frames.

``--baseline REV`` (repeatable) measures the seat map's scripts (static/js/seatmap_view.js and seatmap.js) as they
were at the git revision REV as well, in the same run and against the same server, all taking turns, so that
changes are compared on equal load.

Targets (issue 21): first render < 1 s, pan/zoom frames < 50 ms at p95. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from playwright.sync_api import Browser, Route, sync_playwright

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


MAP_SCRIPTS = ("static/js/seatmap_view.js", "static/js/seatmap.js")


def serve(source: str) -> Callable[[Route], None]:
    """A route handler answering with ``source`` as a script."""
    return lambda route: route.fulfill(body=source, content_type="text/javascript")


def measure(browser: Browser, url: str, event_id: int, scripts: dict[str, str]) -> tuple[float, int, list[float], str]:
    """One page load's first render (after a warm-up load), the seat elements then, and the frame gaps of one
    zoom-and-pan run; ``scripts`` (path -> source) replace the map's scripts as served."""
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    context.add_init_script(FIRST_RENDER_PROBE)
    for path, source in scripts.items():
        context.route(f"**/{path}", serve(source))
    page = context.new_page()
    page.goto(f"/events/{event_id}")  # a warm-up load: server caches, compiled scripts
    page.wait_for_function("() => window.__firstRender", timeout=60_000)
    page.goto(f"/events/{event_id}")
    first = page.wait_for_function("() => window.__firstRender", timeout=60_000).json_value()
    seats = page.locator("#seatmap [data-seat-id]").count()
    moves = page.evaluate(MOVE_SCRIPT)
    context.close()
    return first, seats, moves["gaps"], moves["scale"]


def summary(first: list[float], seats: int, gaps: list[float], scale: str) -> dict:
    return {
        "seat_elements_at_first_render": seats,
        "first_render_ms": {"median": round(statistics.median(first)), "max": round(max(first))},
        "frames": len(gaps),
        "frame_ms": {
            "p50": round(percentile(gaps, 50), 1),
            "p95": round(percentile(gaps, 95), 1),
            "max": round(max(gaps), 1),
        },
        "deepest_zoom": scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--baseline", action="append", default=[], help="a git revision whose map scripts are measured too"
    )
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent

    def scripts_at(rev: str) -> dict[str, str]:
        return {
            path: subprocess.run(
                ["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True, text=True
            ).stdout
            for path in MAP_SCRIPTS
        }

    variants: dict[str, dict[str, str]] = {rev: scripts_at(rev) for rev in args.baseline}
    variants["current"] = {}
    results: dict[str, dict[str, list]] = {
        name: {"first": [], "gaps": [], "seats": [], "scale": []} for name in variants
    }
    with tempfile.TemporaryDirectory(prefix="bench-seatmap-") as logs, bench_stack(Path(logs)) as stack:
        conn = stack.connect()
        [(_, token)] = make_users(conn, 1, role="host")
        conn.close()
        event_id = make_event(stack.url, token)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.runs):
                for name, scripts in variants.items():
                    first, seats, gaps, scale = measure(browser, stack.url, event_id, scripts)
                    results[name]["first"].append(first)
                    results[name]["gaps"].extend(gaps)
                    results[name]["seats"].append(seats)
                    results[name]["scale"].append(scale)
            browser.close()
    out = {name: summary(r["first"], r["seats"][-1], r["gaps"], r["scale"][-1]) for name, r in results.items()}
    for rev in args.baseline:
        base, now = out[rev], out["current"]
        out[f"ratios_current_to_{rev}"] = {
            "first_render_median": round(now["first_render_ms"]["median"] / base["first_render_ms"]["median"], 2),
            "frame_p95": round(now["frame_ms"]["p95"] / base["frame_ms"]["p95"], 2),
        }
    out["machine"] = f"{platform.processor() or platform.machine()}, Chromium headless, --disable-gpu"
    out["runs"] = args.runs
    out["targets"] = {"first_render_ms": 1000, "frame_ms_p95": 50}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
