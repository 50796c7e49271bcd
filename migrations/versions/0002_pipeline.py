"""Checkout pipeline: a stable message id per outbox row, the payment token of a pending booking, dead letters.

``outbox.message_id`` names a message across relays, redeliveries and RQ job ids (row ids restart when a
database is rebuilt; a UUID does not). ``bookings.payment_token`` is what the provider gave for the card at
checkout, so a booking re-driven from PostgreSQL can still be charged; the card number itself is never stored
(``card_last4`` only). ``dead_letters`` keeps notifications that failed every retry, for an admin to replay.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "outbox",
        sa.Column("message_id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
    )
    op.create_unique_constraint("uq_outbox_message_id", "outbox", ["message_id"])
    # The re-drive looks up a pending booking's request message by booking id.
    op.create_index(
        "ix_outbox_booking_id",
        "outbox",
        [sa.text("(payload->>'booking_id')")],
        postgresql_where="topic = 'booking-requests'",
    )
    op.add_column("bookings", sa.Column("payment_token", sa.String(length=64), nullable=True))
    op.add_column("bookings", sa.Column("card_last4", sa.String(length=4), nullable=True))
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index("ix_dead_letters_open", "dead_letters", ["id"], postgresql_where="replayed_at IS NULL")


def downgrade():
    op.drop_index("ix_dead_letters_open", table_name="dead_letters", postgresql_where="replayed_at IS NULL")
    op.drop_table("dead_letters")
    op.drop_column("bookings", "card_last4")
    op.drop_column("bookings", "payment_token")
    op.drop_index("ix_outbox_booking_id", table_name="outbox")
    op.drop_constraint("uq_outbox_message_id", "outbox", type_="unique")
    op.drop_column("outbox", "message_id")
