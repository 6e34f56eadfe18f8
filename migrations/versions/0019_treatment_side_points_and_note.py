"""treatments: the side needled, the points needled as free text, a clinical note

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    # all three optional: treatments recorded before keep NULL, "not recorded"
    with op.batch_alter_table('treatments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('side', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('points', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f('ck_treatments_side'), "side IN ('left', 'right', 'both')"
        )


def downgrade():
    with op.batch_alter_table('treatments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_treatments_side'), type_='check')
        batch_op.drop_column('note')
        batch_op.drop_column('points')
        batch_op.drop_column('side')
