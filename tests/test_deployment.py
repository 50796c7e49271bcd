"""docker-compose.yml and the Dockerfile, checked without a Docker engine (there is none on these machines).

The compose file is parsed and held to what deployment needs: every process of the Procfile, the services it
talks to (Kafka in KRaft mode from the official image), health checks, restart policies, migrations first,
and every environment variable of the configuration table in docs/configuration.md.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.services import ROOT

APP_SERVICES = {"web", "realtime", "dispatcher", "worker", "mailer", "scheduler"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_every_process_and_backing_service_is_there(services: dict[str, Any]) -> None:
    assert set(services) == APP_SERVICES | {"postgres", "redis", "kafka", "migrate", "smtp"}
    procfile = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(procfile) == APP_SERVICES | {"smtp"}
    for web in (_command(services["web"]), procfile["web"]):  # the rest of gunicorn's settings: gunicorn.conf.py
        assert re.search(r"gunicorn -b \S+ wsgi:app$", web), web
    # The realtime process runs the same flags in both (its limits come from the environment).
    realtime = [
        re.sub(r"--(host|port|workers) \S+ ", "", c) for c in (_command(services["realtime"]), procfile["realtime"])
    ]
    assert realtime[0].removeprefix("sh -c exec ") == realtime[1].strip().removeprefix(".venv/bin/"), realtime
    assert "pipeline dispatcher" in _command(services["dispatcher"])
    assert "pipeline scheduler" in _command(services["scheduler"])
    # Confirmations and emails on workers of their own: an email never stands before a confirmation.
    for name, queue in (("worker", "bookings"), ("mailer", "notifications")):
        for command in (_command(services[name]), procfile[name]):
            assert "rq worker" in command and command.rstrip().rstrip('"').endswith(queue), command
    assert "atomicseats.smtp_sink" in _command(services["smtp"])


def test_kafka_is_the_official_image_in_kraft_mode(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "a KRaft cluster id is a base64 UUID"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert not any(k.startswith("KAFKA_ZOOKEEPER") for k in env)


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("postgres", "pg_isready"),
        ("redis", "redis-cli ping"),
        ("kafka", "kafka-broker-api-versions"),
        ("web", "/ready"),
        ("smtp", "8025"),
    ],
)
def test_health_checks(services: dict[str, Any], name: str, probe: str) -> None:
    assert probe in " ".join(services[name]["healthcheck"]["test"])


def test_restart_policies_and_migrations_first(services: dict[str, Any]) -> None:
    assert services["migrate"]["restart"] == "on-failure"
    assert "db upgrade" in _command(services["migrate"])
    for name, service in services.items():
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["dispatcher"]["deploy"]["replicas"] == 2


def test_app_containers_read_every_variable_of_the_configuration_table(services: dict[str, Any]) -> None:
    table = (ROOT / "docs" / "configuration.md").read_text().split("## Deployment settings", 1)[1].split("\n## ", 1)[0]
    documented = {name for row in table.splitlines() if row.startswith("| `") for name in _first_cell_names(row)}
    assert "DATABASE_URL" in documented
    for name in APP_SERVICES | {"migrate", "smtp"}:
        env = services[name]["environment"]
        assert documented <= set(env), (name, documented - set(env))
    assert services["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_dockerfile_builds_one_image_with_the_browser_assets() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    for package in re.search(r"NPM_PACKAGES=\((.*)\)", setup).group(1).split():
        assert package in dockerfile, f"{package} is not the version scripts/setup.sh installs"
    for asset in ("socket.io.min.js", "axe.min.js", "chart.umd.min.js", "swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"vendor/{asset}" in dockerfile


def _first_cell_names(row: str) -> list[str]:
    return re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
