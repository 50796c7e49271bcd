"""Dead letters by message id: the email re-drive asks, every few seconds, whether each unsent message is parked.

Without it that question read the whole ``dead_letters`` table for every message in the re-drive's window
(found by tests/test_query_plans.py).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_dead_letters_message_id", "dead_letters", ["message_id"])


def downgrade():
    op.drop_index("ix_dead_letters_message_id", table_name="dead_letters")
