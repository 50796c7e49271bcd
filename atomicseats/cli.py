"""Flask CLI commands: users, demo data, reconciliation and the background processes."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from atomicseats.accounts import users
from atomicseats.booking import inventory, reconcile
from atomicseats.booking.specs import EventSpec
from atomicseats.extensions import db
from atomicseats.models import Event, User
from atomicseats.models.base import utcnow

DEMO_PASSWORD = "demo-password-1"
users_cli = AppGroup("users", help="Manage users.")
pipeline_cli = AppGroup("pipeline", help="Run the background processes.")


@users_cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", default="Administrator")
@click.password_option()
def create_admin(email: str, name: str, password: str) -> None:
    """Create an admin (admins are never self-service)."""
    user = users.create_admin(email, name, password)
    click.echo(f"admin {user.email} created (id {user.id})")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["attendee", "host", "admin"]))
def set_role(email: str, role: str) -> None:
    user = db.session.scalar(select(User).where(User.email == users.normalise_email(email)))
    if user is None:
        raise click.ClickException(f"no user {email}")
    users.set_role(user.id, role)
    click.echo(f"{user.email} is now {role}")


@click.command("seed-demo")
def seed_demo() -> None:
    """Create the demo users and events; running it again changes nothing."""
    accounts = {}
    for email, name, role in (
        ("host@example.com", "Demo Host", "host"),
        ("attendee@example.com", "Demo Attendee", "attendee"),
        ("admin@example.com", "Demo Admin", "admin"),
    ):
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = users.register(email, name, DEMO_PASSWORD, "host" if role == "host" else "attendee")
            user.role = role
        accounts[role] = user
    db.session.commit()
    host = accounts["host"]
    starts = (utcnow() + timedelta(days=30)).replace(hour=19, minute=30, second=0, microsecond=0)
    demo_events = [
        {
            "name": "The Tempest",
            "description": "Shakespeare's last play, in the round. Reserved seating in three sections.",
            "venue": "Globe Hall",
            "seating": "reserved",
            "sections": [
                {
                    "name": "Stalls",
                    "price_cents": 6500,
                    "rows": [
                        {
                            "label": label,
                            "seats": 20,
                            **({"accessible": [1, 20], "companion": [2, 19]} if label == "A" else {}),
                        }
                        for label in "ABCDEFGHJK"
                    ],
                },
                {"name": "Circle", "price_cents": 4500, "rows": [{"label": label, "seats": 18} for label in "LMNP"]},
                {
                    "name": "Balcony",
                    "price_cents": 2500,
                    "rows": [{"label": label, "seats": 16, "restricted_view": [1, 16]} for label in "RST"],
                },
            ],
        },
        {
            "name": "Open Air Jazz",
            "description": "General admission on the lawn. Bring a blanket.",
            "venue": "Riverside Park",
            "seating": "general",
            "capacity": 500,
            "price_cents": 2500,
        },
    ]
    for data in demo_events:
        event = db.session.scalar(select(Event).where(Event.host_id == host.id, Event.name == data["name"]))
        if event is None:
            spec = EventSpec.model_validate({**data, "starts_at": starts, "ends_at": starts + timedelta(hours=3)})
            event = inventory.create_event(host, spec).obj
            click.echo(f"seeded {event.name} ({event.capacity} places)")
        if event.status == "draft":
            inventory.publish_event(event.id, host)
    click.echo("demo ready")


@click.command("seed-volume")
@click.option("--scale", type=float, default=1.0, show_default=True, help="1.0: 1,000 events, ~1.07M booked seats")
def seed_volume(scale: float) -> None:
    """Add years of synthetic history (past events, bookings, outbox...), so runs see a database of real size."""
    from atomicseats import history

    volume = history.Volume().scaled(scale)
    history.seed(db.session, volume, progress=lambda name, rows: click.echo(f"{name}: {rows} rows"))
    history.analyze(db.session)
    click.echo("history seeded and analysed")


@click.command("reconcile")
def reconcile_command() -> None:
    """Rebuild Redis (hold gate, counters) from PostgreSQL and report what was corrected."""
    corrections = reconcile.reconcile_all()
    changed = [c for c in corrections if c.changed]
    for c in changed:
        click.echo(
            f"event {c.event_id}: held +{c.held_added}/-{c.held_removed} ({c.held_reowned} to another hold), "
            f"booked +{c.booked_added}/-{c.booked_removed}" + ("" if c.was_built else " (gate was missing)")
        )
    click.echo(f"reconciled {len(corrections)} events, corrected {len(changed)}")


@pipeline_cli.command("scheduler")
def scheduler_command() -> None:
    """Expire holds on time and keep the Redis gate rebuilt."""
    from atomicseats.pipeline import scheduler

    scheduler.run(current_app._get_current_object(), stop=_stop_on_signals())


@pipeline_cli.command("dispatcher")
@click.option("--no-relay", is_flag=True, help="Do not run the outbox relay in this process.")
def dispatcher_command(no_relay: bool) -> None:
    """Relay the outbox to Kafka and turn Kafka messages into RQ jobs."""
    from atomicseats.pipeline import dispatcher

    dispatcher.run(current_app._get_current_object(), _stop_on_signals(), with_relay=not no_relay)


@pipeline_cli.command("create-topics")
def create_topics_command() -> None:
    """Create the Kafka topics with KAFKA_PARTITIONS partitions (if missing)."""
    from atomicseats.pipeline.topics import ensure_topics

    created = ensure_topics()
    click.echo(f"created {', '.join(created)}" if created else "all topics exist")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(pipeline_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(seed_volume)
    app.cli.add_command(reconcile_command)
