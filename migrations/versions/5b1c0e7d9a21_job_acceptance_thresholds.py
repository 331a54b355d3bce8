"""job acceptance thresholds per control

Revision ID: 5b1c0e7d9a21
Revises: 2e9047fa8e4a
Create Date: 2026-12-03 06:40:00

"""
import sqlalchemy as sa
from alembic import op

import app.extensions  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '5b1c0e7d9a21'
down_revision = '2e9047fa8e4a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acceptance', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('acceptance')
