"""Waiting room: per-event settings and the admissions that make "nobody is admitted twice" survive Redis.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("events", sa.Column("waiting_room_enabled", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("events", sa.Column("waiting_room_opens_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("events", sa.Column("admit_per_minute", sa.Integer(), server_default="60", nullable=False))
    op.create_check_constraint(
        op.f("ck_events_admit_per_minute_range"), "events", "admit_per_minute BETWEEN 1 AND 100000"
    )
    op.create_table(
        "queue_admissions",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_queue_admissions_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_queue_admissions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_id", "user_id", name=op.f("pk_queue_admissions")),
    )
    op.create_index("ix_queue_admissions_admitted_at", "queue_admissions", ["admitted_at"])


def downgrade():
    op.drop_index("ix_queue_admissions_admitted_at", table_name="queue_admissions")
    op.drop_table("queue_admissions")
    op.drop_constraint("ck_events_admit_per_minute_range", "events", type_="check")
    op.drop_column("events", "admit_per_minute")
    op.drop_column("events", "waiting_room_opens_at")
    op.drop_column("events", "waiting_room_enabled")
