"""source polling state, interrupted deliveries

What a cheap change check remembers between runs (a feed's validators and
newest item, the time of the last full fetch) and when the daemon plans to
sync each source next; and which outbox rows were claimed again after a try
that never settled.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.add_column(sa.Column("poll_etag", sa.String(), nullable=True))
        batch.add_column(sa.Column("poll_modified", sa.String(), nullable=True))
        batch.add_column(sa.Column("poll_marker", sa.String(), nullable=True))
        batch.add_column(
            sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column(
                "interrupted", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("facts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("facts")
        batch.drop_column("interrupted")
    with op.batch_alter_table("source") as batch:
        for name in (
            "next_sync_at",
            "fetched_at",
            "poll_marker",
            "poll_modified",
            "poll_etag",
        ):
            batch.drop_column(name)
