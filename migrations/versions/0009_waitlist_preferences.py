"""Waitlist preferences: the sections an entry will take, whether its places must sit together, and the most
it will pay per place. NULL sections and NULL price mean "any"; existing entries keep meaning that.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("waitlist_entries", sa.Column("section_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True))
    op.add_column(
        "waitlist_entries", sa.Column("together", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )
    op.add_column("waitlist_entries", sa.Column("max_price_cents", sa.Integer(), nullable=True))
    op.create_check_constraint("ck_waitlist_entries_max_price_not_negative", "waitlist_entries", "max_price_cents >= 0")


def downgrade():
    op.drop_constraint("ck_waitlist_entries_max_price_not_negative", "waitlist_entries", type_="check")
    op.drop_column("waitlist_entries", "max_price_cents")
    op.drop_column("waitlist_entries", "together")
    op.drop_column("waitlist_entries", "section_ids")
