"""Seats a host takes off sale (a camera platform, a sound desk): ``for_sale``, false only on a seat that is
neither held nor booked, so the database itself keeps such a seat out of every hold and booking.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("seats", sa.Column("for_sale", sa.Boolean(), server_default="true", nullable=False))
    op.create_check_constraint(
        op.f("ck_seats_off_sale_unclaimed"), "seats", "for_sale OR (hold_id IS NULL AND booking_id IS NULL)"
    )


def downgrade():
    op.drop_constraint(op.f("ck_seats_off_sale_unclaimed"), "seats", type_="check")
    op.drop_column("seats", "for_sale")
