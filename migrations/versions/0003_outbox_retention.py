"""Outbox retention: an index on ``sent_at`` for the email re-drive scan and the pruning of old messages.

Both read sent messages by time (the re-drive those sent within the last day, the scheduler's pruning those
sent before the retention); without it each was a scan of the whole outbox, every few seconds.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"], postgresql_where="sent_at IS NOT NULL")


def downgrade():
    op.drop_index("ix_outbox_sent_at", table_name="outbox", postgresql_where="sent_at IS NOT NULL")
