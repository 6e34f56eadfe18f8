"""a patient's discharge: no more prompts, the record kept; on SQLite, patients' ids are
never reused (AUTOINCREMENT), so an erased patient's id in the audit log names nobody else

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    autoincrement = op.get_bind().dialect.name == "sqlite"  # PostgreSQL's sequences never reuse
    with op.batch_alter_table(
        'patients',
        schema=None,
        recreate='always' if autoincrement else 'auto',
        table_kwargs={'sqlite_autoincrement': True} if autoincrement else {},
    ) as batch_op:
        batch_op.add_column(sa.Column('discharged_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('discharged_at')
