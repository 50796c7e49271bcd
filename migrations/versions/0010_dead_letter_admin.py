"""Dead letters for an admin screen: who replayed each one, its event, and indexes for the filtered list.

``replayed_by`` records who replayed a letter (``replayed_at`` already says when). ``event_id`` is copied
from the payload when a letter is parked, so that the list filters by event through an index instead of
reading every payload. The list is keyset-paged on ``(created_at, id)``, newest first; one index per filter
(all, open only, by kind, by event) keeps a page's cost that of the page whatever the table's size.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("dead_letters", sa.Column("event_id", sa.BigInteger(), nullable=True))
    op.add_column("dead_letters", sa.Column("replayed_by", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_dead_letters_replayed_by_users"), "dead_letters", "users", ["replayed_by"], ["id"], ondelete="SET NULL"
    )
    op.execute(
        "UPDATE dead_letters SET event_id = (payload->>'event_id')::bigint WHERE payload->>'event_id' ~ '^[0-9]{1,18}$'"
    )
    op.drop_index("ix_dead_letters_open", table_name="dead_letters", postgresql_where="replayed_at IS NULL")
    op.create_index(
        "ix_dead_letters_open", "dead_letters", ["created_at", "id"], postgresql_where="replayed_at IS NULL"
    )
    op.create_index("ix_dead_letters_created", "dead_letters", ["created_at", "id"])
    op.create_index("ix_dead_letters_kind", "dead_letters", ["kind", "created_at", "id"])
    op.create_index("ix_dead_letters_event", "dead_letters", ["event_id", "created_at", "id"])


def downgrade():
    op.drop_index("ix_dead_letters_event", table_name="dead_letters")
    op.drop_index("ix_dead_letters_kind", table_name="dead_letters")
    op.drop_index("ix_dead_letters_created", table_name="dead_letters")
    op.drop_index("ix_dead_letters_open", table_name="dead_letters", postgresql_where="replayed_at IS NULL")
    op.create_index("ix_dead_letters_open", "dead_letters", ["id"], postgresql_where="replayed_at IS NULL")
    op.drop_constraint(op.f("fk_dead_letters_replayed_by_users"), "dead_letters", type_="foreignkey")
    op.drop_column("dead_letters", "replayed_by")
    op.drop_column("dead_letters", "event_id")
