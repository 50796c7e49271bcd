"""``-m "not browser"`` leaves out every test under tests/browser, and ``-m browser`` selects only those."""

from __future__ import annotations

import subprocess

from tests.services import ROOT, VENV_BIN


def _collected(marker_expression: str) -> list[str]:
    result = subprocess.run(
        [
            str(VENV_BIN / "pytest"),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            marker_expression,
            "tests/browser",
            "tests/test_deployment.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_not_browser_deselects_every_browser_test() -> None:
    kept = _collected("not browser")
    assert kept, "the deployment tests should remain"
    assert not [item for item in kept if item.startswith("tests/browser/")]


def test_browser_selects_only_browser_tests() -> None:
    chosen = _collected("browser")
    assert chosen
    assert all(item.startswith("tests/browser/") for item in chosen)
