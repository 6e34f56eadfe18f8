"""checkins: an index by treatment, status and due time, for a patient's own check-ins

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 15:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    # a patient's next check-in and the ones open now are found through their treatments,
    # never by walking (status, due_at), which holds every clinic's check-ins
    op.create_index(
        op.f('ix_checkins_treatment_id_status_due_at'),
        'checkins',
        ['treatment_id', 'status', 'due_at'],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f('ix_checkins_treatment_id_status_due_at'), table_name='checkins')
