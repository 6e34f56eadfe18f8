"""check-ins of a back-dated treatment: kept for staff entry instead of cancelled

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 05:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_only', sa.Boolean(), server_default=sa.false(), nullable=False))
    # check-ins cancelled only because their window had closed when the treatment was recorded
    # become what they are now: missed, open to staff entry
    op.execute(
        "UPDATE checkins SET status = 'missed', entry_only = true, cancelled_at = NULL, "
        "next_attempt_at = NULL, remind_at = NULL "
        "WHERE status = 'cancelled' AND EXISTS (SELECT 1 FROM treatments WHERE "
        "treatments.id = checkins.treatment_id AND checkins.cancelled_at = treatments.created_at "
        "AND checkins.expires_at <= treatments.created_at)"
    )


def downgrade():
    op.execute(
        "UPDATE checkins SET status = 'cancelled', cancelled_at = (SELECT created_at FROM "
        "treatments WHERE treatments.id = checkins.treatment_id) "
        "WHERE entry_only AND status = 'missed'"
    )
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_column('entry_only')
