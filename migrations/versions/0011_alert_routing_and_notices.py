"""alert routing and notices: contacts, each notice sent (the alert's ledger), what an
acknowledgement did, and the clinic's escalation interval and routing

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 16:43:44.333359

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alert_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('on_call', 'backup')", name=op.f('ck_alert_contacts_role')),
    sa.CheckConstraint('clinician_id IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL', name=op.f('ck_alert_contacts_reachable')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_alert_contacts_clinic_id_clinics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinicians.id'], name=op.f('fk_alert_contacts_clinician_id_clinicians'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_contacts')),
    sa.UniqueConstraint('clinic_id', 'role', 'clinician_id', name=op.f('uq_alert_contacts_clinic_id_role_clinician_id'))
    )
    with op.batch_alter_table('alert_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_contacts_clinic_id'), ['clinic_id'], unique=False)

    op.create_table('alert_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('is_digest', sa.Boolean(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.String(length=300), nullable=True),
    sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f('ck_alert_notices_channel')),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'cancelled')", name=op.f('ck_alert_notices_status')),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_notices_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinicians.id'], name=op.f('fk_alert_notices_clinician_id_clinicians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['alert_contacts.id'], name=op.f('fk_alert_notices_contact_id_alert_contacts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notices')),
    sa.UniqueConstraint('alert_id', 'step', 'channel', 'address', name=op.f('uq_alert_notices_alert_id_step_channel_address'))
    )
    with op.batch_alter_table('alert_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_notices_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_notices_status_due_at'), ['status', 'due_at'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ack_action', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('ack_note', sa.String(length=1000), nullable=True))

    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalate_after_min', sa.Integer(), server_default='15', nullable=False))
        batch_op.add_column(sa.Column('alert_routing', sa.JSON(), nullable=True))



def downgrade():
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_column('alert_routing')
        batch_op.drop_column('escalate_after_min')

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('ack_note')
        batch_op.drop_column('ack_action')

    with op.batch_alter_table('alert_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_notices_status_due_at'))
        batch_op.drop_index(batch_op.f('ix_alert_notices_alert_id'))

    op.drop_table('alert_notices')
    with op.batch_alter_table('alert_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_contacts_clinic_id'))

    op.drop_table('alert_contacts')
