"""A realtime process killed and started again (as the Procfile runs it) while hundreds of maps are open: the maps
come back with jittered backoff, the site answers throughout, and every map ends up showing the database's truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.factories import LiveApi
from tests.seatmaps import Crowd
from tests.services import RestartableRealtime, wait_for

MAPS = 300
PROMPT_SECONDS = 3.0


@pytest.fixture
def restartable_realtime(server_env: dict[str, str], run_dir: Path, app) -> Iterator[RestartableRealtime]:
    log_dir = run_dir / "realtime-restart"
    log_dir.mkdir(exist_ok=True)
    server = RestartableRealtime(server_env, log_dir).start()
    yield server
    server.stop()


def timed_get(url: str) -> float:
    started = time.perf_counter()
    assert requests.get(url, timeout=PROMPT_SECONDS).status_code == 200
    return time.perf_counter() - started


def test_after_a_restart_every_map_comes_back_and_shows_the_true_state_while_the_site_answers(
    live_server, restartable_realtime, factory
) -> None:
    event = factory.event()
    seats = factory.seat_ids(event.id)
    buyers = [LiveApi(live_server, factory.token(factory.user())) for _ in range(3)]
    first = buyers[0].post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]})
    assert first.status == 201
    realtime = restartable_realtime

    with Crowd(realtime.url, event.id, MAPS, reconnect=True) as crowd:
        wait_for(lambda: all(v[seats[0]] == "held" for v in crowd.views()), 30, "every map to show the first hold")
        realtime.kill()
        wait_for(lambda: crowd.connected() == 0, 30, "every map to see its connection drop")

        # Seats change while no map can hear it.
        assert buyers[0].delete(f"/holds/{first.body['id']}").status == 204
        assert buyers[1].post(f"/events/{event.id}/holds", json={"seat_ids": seats[2:5]}).status == 201

        realtime.start()
        # The storm: the maps reconnect and rejoin while the site is asked for its health and a hold.
        started = time.perf_counter()
        probes, rejoined_at_first_probe = [], None
        hold_status = None
        while min(crowd.fulls()) < 2 and time.perf_counter() - started < 60:
            rejoined = sum(n >= 2 for n in crowd.fulls())
            rejoined_at_first_probe = rejoined if rejoined_at_first_probe is None else rejoined_at_first_probe
            probes.append(timed_get(f"{live_server}/health"))
            probes.append(timed_get(f"{realtime.url}/health"))
            if hold_status is None:
                held = time.perf_counter()
                hold_status = buyers[2].post(f"/events/{event.id}/holds", json={"seat_ids": [seats[5]]}).status
                probes.append(time.perf_counter() - held)
        assert min(crowd.fulls()) >= 2, f"maps not rejoined after 60 s: {sum(n < 2 for n in crowd.fulls())}"
        assert rejoined_at_first_probe < MAPS, "the probes ran after the storm, not during it"
        assert hold_status == 201
        assert max(probes) < PROMPT_SECONDS

        truth = {s["id"]: s["status"] for s in buyers[0].get(f"/events/{event.id}/seats").body["items"]}
        assert [truth[s] for s in seats[:6]] == ["available", "available", "held", "held", "held", "held"]
        try:
            wait_for(lambda: all(view == truth for view in crowd.views()), 30, "every map to show the true state")
        except TimeoutError:
            wrong = [view for view in crowd.views() if view != truth]
            pytest.fail(f"{len(wrong)} of {MAPS} maps differ from the database, e.g. {wrong[0]} != {truth}")
        assert crowd.connected() == MAPS
