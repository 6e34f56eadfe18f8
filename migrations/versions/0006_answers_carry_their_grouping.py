"""answers carry their clinic, modality, time point and elapsed hours; treatments' index covers
their patients

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clinic_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('modality', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('slot', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('elapsed_hours', sa.Double(), nullable=True))

    # the answers already stored, from their responses and treatments (which never change)
    if op.get_bind().dialect.name == 'postgresql':
        elapsed = 'extract(epoch from r.answered_at - t.treated_at) / 3600.0'
    else:
        elapsed = '(julianday(r.answered_at) - julianday(t.treated_at)) * 24.0'
    op.execute(
        'UPDATE answers SET (clinic_id, modality, slot, elapsed_hours) = ('
        f'SELECT t.clinic_id, t.modality, r.slot, {elapsed} '
        'FROM responses r JOIN treatments t ON t.id = r.treatment_id '
        'WHERE r.id = answers.response_id)'
    )

    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.alter_column('clinic_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('modality', existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column('slot', existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column('elapsed_hours', existing_type=sa.Double(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_answers_clinic_id_clinics'), 'clinics', ['clinic_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_index(batch_op.f('ix_answers_item_code_response_id_value_num'))
        batch_op.create_index('ix_answers_grouping', ['clinic_id', 'item_code', 'modality', 'slot', 'value_num', 'elapsed_hours'], unique=False)

    with op.batch_alter_table('treatments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_treatments_clinic_id_modality_treated_at'))
        batch_op.create_index(batch_op.f('ix_treatments_clinic_id_modality_patient_id_treated_at'), ['clinic_id', 'modality', 'patient_id', 'treated_at'], unique=False, postgresql_include=['id'])


def downgrade():
    with op.batch_alter_table('treatments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_treatments_clinic_id_modality_patient_id_treated_at'))
        batch_op.create_index(batch_op.f('ix_treatments_clinic_id_modality_treated_at'), ['clinic_id', 'modality', 'treated_at'], unique=False)

    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index('ix_answers_grouping')
        batch_op.create_index(batch_op.f('ix_answers_item_code_response_id_value_num'), ['item_code', 'response_id', 'value_num'], unique=False)
        batch_op.drop_constraint(batch_op.f('fk_answers_clinic_id_clinics'), type_='foreignkey')
        batch_op.drop_column('elapsed_hours')
        batch_op.drop_column('slot')
        batch_op.drop_column('modality')
        batch_op.drop_column('clinic_id')
