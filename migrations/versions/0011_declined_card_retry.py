"""A declined card can be retried while the hold lasts: one booking per hold that has not failed, and the hold's
own expiry kept while a checkout stretches it.

``bookings.hold_id`` was unique, so a hold whose payment was declined could never be checked out again and the
decline had to end it. Now a failed booking leaves its hold alive, and the partial unique index allows any
number of failed bookings but only one pending, confirmed or cancelled booking per hold: two checkouts of one
hold still cannot both go through. A plain index on ``hold_id`` keeps looking up a hold's bookings (and the
foreign key's checks) an index scan.

``holds.expires_before_checkout``: a checkout stretches ``expires_at`` by the grace period so that the hold
cannot run out while its booking is pending; after a decline the hold goes back to this, its own expiry
(NULL until a checkout starts).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("holds", sa.Column("expires_before_checkout", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("uq_bookings_hold_id"), "bookings", type_="unique")
    op.create_index(op.f("ix_bookings_hold_id"), "bookings", ["hold_id"])
    op.create_index(
        "uq_bookings_hold_not_failed", "bookings", ["hold_id"], unique=True, postgresql_where="status <> 'failed'"
    )


def downgrade():
    # Only one booking per hold may remain: a retried hold's failed attempts go before the constraint comes back.
    op.execute(
        "DELETE FROM bookings b WHERE b.status = 'failed' AND EXISTS "
        "(SELECT 1 FROM bookings o WHERE o.hold_id = b.hold_id AND o.id <> b.id AND (o.status <> 'failed' "
        "OR (o.created_at, o.id) > (b.created_at, b.id)))"
    )
    op.drop_index("uq_bookings_hold_not_failed", table_name="bookings")
    op.drop_index(op.f("ix_bookings_hold_id"), table_name="bookings")
    op.create_unique_constraint(op.f("uq_bookings_hold_id"), "bookings", ["hold_id"])
    op.drop_column("holds", "expires_before_checkout")
