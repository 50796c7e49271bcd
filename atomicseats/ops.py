"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from atomicseats.extensions import db, kafka_ext, redis_ext

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health():
    """The process is up; says nothing about its dependencies (that is /ready)."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready():
    """200 when PostgreSQL, Redis and Kafka all answer; 503 naming those that do not."""
    checks = {"postgresql": _check_postgres, "redis": _check_redis, "kafka": _check_kafka}
    failing = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # any failure of a dependency is what /ready reports
            failing[name] = f"{type(exc).__name__}: {exc}"[:300]
    if failing:
        response = jsonify(
            {
                "error": {
                    "code": "not_ready",
                    "message": f"Not reachable: {', '.join(failing)}.",
                    "details": {"failing": failing},
                }
            }
        )
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    return jsonify({"status": "ready", "checks": dict.fromkeys(checks, "ok")})


def _check_postgres() -> None:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()


def _check_redis() -> None:
    redis_ext.client.ping()


def _check_kafka() -> None:
    """Ask a broker for cluster metadata (a TCP accept alone proves nothing)."""
    kafka_ext.admin().describe_cluster()
