"""adjusted_fits: the worker's stored adjusted comparisons; answers indexed by clinic and id

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('adjusted_fits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope_key', sa.String(length=400), nullable=False),
    sa.Column('clinic_ids', sa.JSON(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('wanted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer_count', sa.Integer(), nullable=True),
    sa.Column('last_answer_id', sa.Integer(), nullable=True),
    sa.Column('answers_up_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fit_seconds', sa.Double(), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjusted_fits')),
    sa.UniqueConstraint('scope_key', name=op.f('uq_adjusted_fits_scope_key'))
    )
    # the answer version of a clinic (count and highest id) from one index range, never the
    # table: read on every Compare page and by the worker before each fit
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answers_clinic_id_id'), ['clinic_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answers_clinic_id_id'))
    op.drop_table('adjusted_fits')
