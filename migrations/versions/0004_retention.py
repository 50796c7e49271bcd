"""Retention: indexes on the times by which processed message ids, idempotency keys and API tokens are pruned.

The scheduler deletes the oldest rows of each in batches (``atomicseats/booking/retention.py``); without an
index every batch would scan the whole table.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_processed_messages_processed_at", "processed_messages", ["processed_at"])
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index("ix_api_tokens_expires_at", "api_tokens", ["expires_at"])


def downgrade():
    op.drop_index("ix_api_tokens_expires_at", table_name="api_tokens")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_index("ix_processed_messages_processed_at", table_name="processed_messages")
