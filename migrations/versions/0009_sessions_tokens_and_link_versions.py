"""sessions kept on the server, named expiring tokens, link versions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('clinician_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinicians.id'], name=op.f('fk_clinician_sessions_clinician_id_clinicians'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinician_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_clinician_sessions_token_hash'))
    )
    with op.batch_alter_table('clinician_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinician_sessions_clinician_id'), ['clinician_id'], unique=False)

    # plain ADD COLUMNs: no table is rebuilt
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_version', sa.Integer(), nullable=False, server_default='0'))
    # the sessions signed in before this version kept only the clinician's id in their cookie:
    # they end here, and their clinicians sign in again (see server/pages/auth.py)


def downgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('link_version')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('name')
    with op.batch_alter_table('clinician_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinician_sessions_clinician_id'))
    op.drop_table('clinician_sessions')
