"""clinic settings: new patients' default quiet hours, and the data retention period

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 20:35:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_quiet_start', sa.Time(), server_default='22:00:00', nullable=True))
        batch_op.add_column(sa.Column('default_quiet_end', sa.Time(), server_default='08:00:00', nullable=True))
        batch_op.add_column(sa.Column('retention_years', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_column('retention_years')
        batch_op.drop_column('default_quiet_end')
        batch_op.drop_column('default_quiet_start')
