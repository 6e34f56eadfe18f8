"""treatments: the dose, as number of needle sites, retention in minutes, needle diameter in mm

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    # all three optional: treatments recorded before keep NULL, "not recorded"; the diameter
    # in mm because gauge numbers differ between countries
    with op.batch_alter_table('treatments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('needle_sites', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retention_minutes', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('needle_diameter_mm', sa.Double(), nullable=True))
        # the ranges as the model says them on 2026-12-04 (server/models/treatments.py)
        batch_op.create_check_constraint(
            batch_op.f('ck_treatments_needle_sites'), 'needle_sites BETWEEN 1 AND 100'
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_treatments_retention_minutes'),
            'retention_minutes >= 0 AND retention_minutes <= 180',
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_treatments_needle_diameter_mm'),
            'needle_diameter_mm >= 0.1 AND needle_diameter_mm <= 0.6',
        )


def downgrade():
    with op.batch_alter_table('treatments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_treatments_needle_diameter_mm'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_treatments_retention_minutes'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_treatments_needle_sites'), type_='check')
        batch_op.drop_column('needle_diameter_mm')
        batch_op.drop_column('retention_minutes')
        batch_op.drop_column('needle_sites')
