"""The WSGI entry point that gunicorn and the flask CLI load."""

from __future__ import annotations

import subprocess
import sys

from tests.services import ROOT


def test_start_up_objects_are_frozen_out_of_the_garbage_collector(server_env: dict[str, str]) -> None:
    """A full collection must not walk the app built at start-up: that walk stalls every request thread."""
    probe = "import gc, wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=server_env, capture_output=True, text=True, timeout=60, check=True
    )
    frozen, tracked = map(int, out.stdout.split())
    assert frozen > 10 * tracked, (frozen, tracked)
