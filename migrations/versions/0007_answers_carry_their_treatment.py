"""answers carry their treatment

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 21:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('treatment_id', sa.Integer(), nullable=True))

    # the answers already stored, from their responses (which never change)
    op.execute(
        'UPDATE answers SET treatment_id = '
        '(SELECT r.treatment_id FROM responses r WHERE r.id = answers.response_id)'
    )

    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.alter_column('treatment_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_answers_treatment_id_treatments'), 'treatments', ['treatment_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index('ix_answers_by_treatment', ['treatment_id', 'item_code', 'modality', 'slot', 'value_num', 'elapsed_hours'], unique=False)


def downgrade():
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index('ix_answers_by_treatment')
        batch_op.drop_constraint(batch_op.f('fk_answers_treatment_id_treatments'), type_='foreignkey')
        batch_op.drop_column('treatment_id')
