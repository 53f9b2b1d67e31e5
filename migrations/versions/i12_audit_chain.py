"""audit chain: prev_hash/row_hash/hash_alg/key_id on audit_log, audit_anchors, existing rows chained

Revision ID: i12_audit_chain
Revises: c4677ae4804c
Create Date: 2026-11-30 22:00:00

Existing rows are chained in id order with the instance's audit key (MTKIT_AUDIT_KEY or
instance/audit_key) exactly as core/audit_chain/seal.py chains new ones; the append-only triggers
are lifted for that one update and put back. Run it with the application stopped. The canonical
form is written out here rather than imported, so this migration keeps meaning what it meant.
"""
import hashlib
import hmac
import json
from datetime import timezone

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = 'i12_audit_chain'
down_revision = "i12_encryption"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
ALGORITHMS = {"sha256": ("hmac-sha256", "sha256"), "sm3": ("hmac-sm3", "sm3")}
BATCH = 2000

audit_log = sa.table(
    'audit_log', sa.column('id', sa.Integer), sa.column('at', sa.DateTime(timezone=True)),
    sa.column('user_id', sa.Integer), sa.column('username', sa.String), sa.column('action', sa.String),
    sa.column('object_type', sa.String), sa.column('object_id', sa.String), sa.column('result', sa.String),
    sa.column('ip', sa.String), sa.column('detail', sa.Text), sa.column('prev_hash', sa.String),
    sa.column('row_hash', sa.String), sa.column('hash_alg', sa.String), sa.column('key_id', sa.String),
)


def upgrade():
    op.add_column('audit_log', sa.Column('prev_hash', sa.String(length=64), nullable=True))
    op.add_column('audit_log', sa.Column('row_hash', sa.String(length=64), nullable=True))
    op.add_column('audit_log', sa.Column('hash_alg', sa.String(length=16), nullable=True))
    op.add_column('audit_log', sa.Column('key_id', sa.String(length=16), nullable=True))
    op.create_table('audit_anchors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_anchors')),
    sa.UniqueConstraint('day', name=op.f('uq_audit_anchors_day'))
    )
    _chain_existing_rows()
    _append_only_anchors_and_no_truncate()


def _keys():
    keys = [k.strip() for k in str(current_app.config.get('MTKIT_AUDIT_KEY') or '').replace(',', '\n').split() if k.strip()]
    if not keys:
        raise RuntimeError('MTKIT_AUDIT_KEY is empty: the audit chain needs a key')
    alg, digest = ALGORITHMS[str(current_app.config.get('MTKIT_AUDIT_HASH') or 'sha256').strip().lower()]
    key = keys[0]
    return alg, digest, hashlib.sha256(b'mtkit-audit-key-id:' + key.encode('utf-8')).hexdigest()[:8], key.encode('utf-8')


def _at_text(moment):
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def _canonical(row, prev_hash, alg, key_id):
    return json.dumps({
        'id': row.id, 'at': _at_text(row.at), 'user_id': row.user_id, 'username': row.username,
        'action': row.action, 'object_type': row.object_type, 'object_id': row.object_id, 'result': row.result,
        'ip': row.ip, 'detail': row.detail, 'prev_hash': prev_hash, 'hash_alg': alg, 'key_id': key_id,
    }, sort_keys=True, ensure_ascii=False, separators=(',', ':')).encode('utf-8')


def _chain_existing_rows():
    bind = op.get_bind()
    if bind.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() == 0:
        return
    alg, digest, key_id, key = _keys()
    _lift_append_only(bind, True)
    prev, last_id = GENESIS, 0
    while True:
        rows = bind.execute(sa.select(audit_log).where(audit_log.c.id > last_id).order_by(audit_log.c.id).limit(BATCH)).all()
        if not rows:
            break
        updates = []
        for row in rows:
            row_hash = hmac.new(key, _canonical(row, prev, alg, key_id), digest).hexdigest()
            updates.append({'b_id': row.id, 'prev_hash': prev, 'row_hash': row_hash, 'hash_alg': alg, 'key_id': key_id})
            prev, last_id = row_hash, row.id
        bind.execute(
            audit_log.update().where(audit_log.c.id == sa.bindparam('b_id'))
            .values(prev_hash=sa.bindparam('prev_hash'), row_hash=sa.bindparam('row_hash'),
                    hash_alg=sa.bindparam('hash_alg'), key_id=sa.bindparam('key_id')),
            updates)
    _lift_append_only(bind, False)


def _lift_append_only(bind, lift):
    """Take the append-only triggers off audit_log for the one chaining update, and put them back."""
    if bind.dialect.name == 'postgresql':
        op.execute(f"ALTER TABLE audit_log {'DISABLE' if lift else 'ENABLE'} TRIGGER audit_log_append_only")
    elif lift:
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_update')
    else:
        op.execute("""
            CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
        """)


def _append_only_anchors_and_no_truncate():
    """audit_anchors is append-only like audit_log; on PostgreSQL neither table can be truncated."""
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
            CREATE FUNCTION mtkit_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors
            FOR EACH ROW EXECUTE FUNCTION mtkit_append_only()
        """)
        for table in ('audit_log', 'audit_anchors'):
            op.execute(f"""
                CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION mtkit_append_only()
            """)
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"""
                CREATE TRIGGER audit_anchors_no_{verb.lower()} BEFORE {verb} ON audit_anchors
                BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only'); END
            """)


def downgrade():
    # The chain columns go; the rows themselves and the original append-only triggers stay.
    if op.get_bind().dialect.name == 'postgresql':
        for table in ('audit_log', 'audit_anchors'):
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}')
        op.execute('DROP TRIGGER IF EXISTS audit_anchors_append_only ON audit_anchors')
        op.drop_table('audit_anchors')
        op.execute('DROP FUNCTION IF EXISTS mtkit_append_only()')
        for column in ('key_id', 'hash_alg', 'row_hash', 'prev_hash'):
            op.drop_column('audit_log', column)
    else:
        op.drop_table('audit_anchors')  # its triggers go with it
        for column in ('key_id', 'hash_alg', 'row_hash', 'prev_hash'):
            # SQLite's own DROP COLUMN (3.35+): a batch rebuild would lose the append-only triggers.
            op.execute(f'ALTER TABLE audit_log DROP COLUMN {column}')
