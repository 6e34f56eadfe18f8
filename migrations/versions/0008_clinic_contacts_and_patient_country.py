"""clinic contacts and patient country

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column('timezone', sa.String(length=64), nullable=False, server_default='UTC')
        )
        batch_op.add_column(sa.Column('opening_hours', sa.JSON(), nullable=True))
        batch_op.alter_column(
            'emergency_number', existing_type=sa.String(length=20), nullable=True
        )
    # hand-written data steps. A clinic's zone: the one most of its patients live in (a new
    # clinic gives its own). '911' was everyone's default, never a choice: it told a patient
    # in Sydney to call 911, so it goes, and each patient is told their own country's number
    op.execute(
        "UPDATE clinics SET timezone = COALESCE(("
        " SELECT p.timezone FROM patients p WHERE p.clinic_id = clinics.id"
        " GROUP BY p.timezone ORDER BY count(*) DESC, p.timezone LIMIT 1), 'UTC')"
    )
    op.execute("UPDATE clinics SET emergency_number = NULL WHERE emergency_number = '911'")
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.alter_column('timezone', existing_type=sa.String(length=64), server_default=None)

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('emergency_number', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('emergency_number')
        batch_op.drop_column('country')
    # lossy, as the schema before it was: every clinic without a number of its own says 911 again
    op.execute("UPDATE clinics SET emergency_number = '911' WHERE emergency_number IS NULL")
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.alter_column(
            'emergency_number', existing_type=sa.String(length=20), nullable=False
        )
        batch_op.drop_column('opening_hours')
        batch_op.drop_column('timezone')
        batch_op.drop_column('phone')
