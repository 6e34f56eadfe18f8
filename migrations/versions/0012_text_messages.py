"""text messages: patients' and clinicians' mobile numbers, a patient's consent to texts and
opt-out, each patient's channel order; checkins.emailed_at becomes messaged_at (e-mail or text)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('sms_consent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sms_consent_source', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('sms_opted_out_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('channel_order', sa.String(length=32), server_default='push,email,sms', nullable=False))
        batch_op.create_check_constraint(
            'sms_consent_source', "sms_consent_source IN ('enrolment', 'phone', 'paper')"
        )
        batch_op.create_index(batch_op.f('ix_patients_phone'), ['phone'], unique=False)

    with op.batch_alter_table('clinicians', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))

    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.alter_column('emailed_at', new_column_name='messaged_at')


def downgrade():
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.alter_column('messaged_at', new_column_name='emailed_at')

    with op.batch_alter_table('clinicians', schema=None) as batch_op:
        batch_op.drop_column('phone')

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_phone'))
        batch_op.drop_constraint('sms_consent_source', type_='check')
        batch_op.drop_column('channel_order')
        batch_op.drop_column('sms_opted_out_at')
        batch_op.drop_column('sms_consent_source')
        batch_op.drop_column('sms_consent_at')
        batch_op.drop_column('phone')
