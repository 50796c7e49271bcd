"""Waiting rooms: the scheduler asks every second which on-sale events have one; a partial index answers it
without reading every event.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_events_open_waiting_rooms",
        "events",
        ["id"],
        postgresql_where="waiting_room_enabled AND status = 'on_sale'",
    )


def downgrade():
    op.drop_index("ix_events_open_waiting_rooms", table_name="events")
