"""endpoint deployment options: dynamic batching knobs and a canary version with its traffic share

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One optional row per endpoint (deployments.EndpointOptions); a missing row or a NULL column means
    # "the server default", so endpoints created before this revision keep working unchanged.
    op.create_table(
        "endpoint_options",
        sa.Column("endpoint_id", sa.String(32), sa.ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("max_batch_size", sa.Integer, nullable=True),
        sa.Column("max_wait_ms", sa.Float, nullable=True),
        sa.Column("max_queue", sa.Integer, nullable=True),
        sa.Column("canary_version_id", sa.String(32), nullable=True),
        sa.Column("canary_percent", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("endpoint_options")
