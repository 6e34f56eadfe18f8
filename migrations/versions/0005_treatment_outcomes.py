"""treatment outcomes kept for the analytics

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 16:20:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('treatment_outcomes',
    sa.Column('treatment_id', sa.Integer(), nullable=False),
    sa.Column('resolved_hours', sa.Double(), nullable=True),
    sa.Column('last_soreness_hours', sa.Double(), nullable=True),
    sa.Column('pain_before', sa.Integer(), nullable=True),
    sa.Column('pain_after', sa.Integer(), nullable=True),
    sa.Column('responder', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['treatment_id'], ['treatments.id'], name=op.f('fk_treatment_outcomes_treatment_id_treatments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('treatment_id', name=op.f('pk_treatment_outcomes'))
    )
    # the outcomes of the treatments already recorded, worked out as new ones will be
    from server.services import outcomes

    with Session(bind=op.get_bind()) as session:
        outcomes.rebuild(session)
        session.flush()


def downgrade():
    op.drop_table('treatment_outcomes')
