"""Emails delivered: the outbox row of a notification records when its email went out.

The email re-drive asks every few seconds which notifications published over a minute ago were never sent. It
read every notification of the last day and looked each one up in ``processed_messages``: its cost grew with
the emails sent, not with the emails lost (found by tests/test_query_plans.py with realistic history). The
email job now stamps ``delivered_at`` in its sending transaction, and a partial index holds only the rows
still waiting for theirs, so the re-drive reads those alone.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("outbox", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE outbox o SET delivered_at = p.processed_at FROM processed_messages p "
        "WHERE o.topic = 'notifications' AND p.consumer = 'email' AND p.message_id = CAST(o.message_id AS text)"
    )
    op.create_index(
        "ix_outbox_undelivered_emails",
        "outbox",
        ["sent_at"],
        postgresql_where=sa.text("topic = 'notifications' AND delivered_at IS NULL AND sent_at IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_outbox_undelivered_emails", table_name="outbox")
    op.drop_column("outbox", "delivered_at")
