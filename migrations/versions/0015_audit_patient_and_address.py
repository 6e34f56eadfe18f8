"""audit log: the patient an entry concerns (a bare id) and the client's address

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('address', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_events_clinic_id_patient_id'), ['clinic_id', 'patient_id'], unique=False)
    # entries about a patient named it in their target: give them its bare id
    op.execute(
        "UPDATE audit_events SET patient_id = CAST(SUBSTR(target, 9) AS INTEGER) "
        "WHERE target LIKE 'patient:%'"
    )


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_clinic_id_patient_id'))
        batch_op.drop_column('address')
        batch_op.drop_column('patient_id')
