"""Outbox wake-ups: a transaction that wrote outbox rows notifies the relay when it commits.

The relay looked for unsent rows every 20 ms: fifty transactions a second on an idle system, and up to 20 ms
on every booking's way to Kafka. A statement-level trigger now notifies the channel ``atomicseats_outbox``;
PostgreSQL delivers a notification only when the transaction commits and folds repeats within one transaction
into one, so the relay (``pipeline/relay.py``) wakes once per committed change, and never for a rolled-back
one. Every path that writes the outbox is covered, with no writer having to remember it.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        """
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('atomicseats_outbox', '');
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
    )


def downgrade():
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION outbox_notify()")
