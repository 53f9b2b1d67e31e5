"""encryption at rest: ID/phone numbers and addresses encrypted, HMAC look-ups, pseudonymous usernames

ID and phone numbers and addresses are encrypted, with HMAC look-up columns for exact search;
insured people's usernames are no longer their ID numbers; phone numbers and addresses in stored
NHSA filings are encrypted.

The rows are encrypted in place, in batches, with the app's key file (MTKIT_KEY_FILE, generated on
first start if missing): the migration runs inside the app (``flask db upgrade``), which has loaded
it. Downgrade decrypts them back (it needs the same key file).

Audit rows are append-only and are not rewritten: rows written before this revision keep the ID
number an insured person then had as username (the audit page masks it).

Revision ID: i12_encryption
Revises: c4677ae4804c
Create Date: 2026-11-30

"""
import re
import secrets

import sqlalchemy as sa
from alembic import op
from flask import current_app

from core.kernel.crypto import is_ciphertext

revision = "i12_encryption"
down_revision = "i12_idempotency"
branch_labels = None
depends_on = None

BATCH = 500
SEALED = ("id_number", "phone", "address", "remote_address")
PLAIN_LENGTH = {"id_number": 18, "phone": 20, "address": 200, "remote_address": 200}
FILING_FIELDS = ("tel", "addr")
PSEUDONYM = re.compile(r"^p[0-9a-f]{20}$")

users = sa.table(
    "users", sa.column("id", sa.Integer), sa.column("username", sa.String), sa.column("role", sa.String),
    *(sa.column(c, sa.String) for c in SEALED), sa.column("id_number_hmac", sa.String), sa.column("phone_hmac", sa.String),
)
filings = sa.table("nhsa_filings", sa.column("id", sa.Integer), sa.column("data", sa.JSON))


def _ring():
    return current_app.extensions["mtkit_keys"].ring


def _normal_id(value: str) -> str:  # core.people.identity.normalise_id as of this revision
    return value.strip().upper().replace(" ", "")


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.get_bind().exec_driver_sql("PRAGMA secure_delete = ON")  # freed pages zeroed: no plaintext left behind
    _rebuild_users(_widen)
    _encrypt_users(_ring())
    _rewrite_filings(_ring(), encrypt=True)


def downgrade():
    _decrypt_users(_ring())
    _rewrite_filings(_ring(), encrypt=False)
    _rebuild_users(_narrow)


# --- schema ----------------------------------------------------------------------------------------
def _widen(batch):
    for name in ("id_number", "phone"):
        batch.alter_column(name, existing_type=sa.String(PLAIN_LENGTH[name]), type_=sa.String(255))
    for name in ("address", "remote_address"):
        batch.alter_column(name, existing_type=sa.String(200), type_=sa.Text())
    # Ciphertexts differ on every write: uniqueness of ID numbers moves to the HMAC column.
    batch.drop_constraint("uq_users_id_number", type_="unique")
    batch.add_column(sa.Column("id_number_hmac", sa.String(64), nullable=True))
    batch.add_column(sa.Column("phone_hmac", sa.String(64), nullable=True))
    batch.create_index("uq_users_id_number_hmac", ["id_number_hmac"], unique=True)
    batch.create_index("ix_users_phone_hmac", ["phone_hmac"], unique=False)


def _narrow(batch):
    batch.drop_index("ix_users_phone_hmac")
    batch.drop_index("uq_users_id_number_hmac")
    batch.drop_column("phone_hmac")
    batch.drop_column("id_number_hmac")
    for name in ("id_number", "phone"):
        batch.alter_column(name, existing_type=sa.String(255), type_=sa.String(PLAIN_LENGTH[name]))
    for name in ("address", "remote_address"):
        batch.alter_column(name, existing_type=sa.Text(), type_=sa.String(200))
    batch.create_unique_constraint("uq_users_id_number", ["id_number"])


def _rebuild_users(change):
    """PostgreSQL alters ``users`` in place. SQLite must rebuild the table, and with foreign keys on
    it cannot drop a table other rows point at: so, in one transaction with the foreign-key checks
    deferred to the commit, keep the rows aside, empty the table, rebuild it, put the rows back.
    Every reference is whole again by the commit, which checks them all."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        with op.batch_alter_table("users") as batch:
            change(batch)
        return
    if not bind.connection.dbapi_connection.in_transaction:
        bind.exec_driver_sql("BEGIN")  # defer_foreign_keys lasts until the end of a transaction
    bind.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    columns = [row[1] for row in bind.exec_driver_sql("PRAGMA table_info(users)")]
    bind.exec_driver_sql("DROP TABLE IF EXISTS temp._i12_users")
    bind.exec_driver_sql("CREATE TEMP TABLE _i12_users AS SELECT * FROM users")
    bind.exec_driver_sql("DELETE FROM users")
    with op.batch_alter_table("users", recreate="always") as batch:
        change(batch)
    kept = ", ".join(f'"{c}"' for c in columns if c not in ("id_number_hmac", "phone_hmac"))
    bind.exec_driver_sql(f"INSERT INTO users ({kept}) SELECT {kept} FROM temp._i12_users ORDER BY id")
    bind.exec_driver_sql("DROP TABLE temp._i12_users")


# --- data ------------------------------------------------------------------------------------------
def _batches(table, *columns):
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.select(table.c.id, *columns).where(table.c.id > last).order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _encrypt_users(ring):
    bind = op.get_bind()
    for rows in _batches(users, users.c.username, users.c.role, *(users.c[c] for c in SEALED)):
        for r in rows:
            values = {c: ring.encrypt(getattr(r, c), f"users.{c}") for c in SEALED
                      if getattr(r, c) is not None and not is_ciphertext(getattr(r, c))}
            if not values:
                continue
            if r.id_number is not None and not is_ciphertext(r.id_number):
                values["id_number_hmac"] = ring.lookup("id_number", _normal_id(r.id_number))
                if r.role == "insured" and r.username == r.id_number:
                    values["username"] = "p" + secrets.token_hex(10)  # log-in is by ID number, through the HMAC
            if r.phone is not None and not is_ciphertext(r.phone):
                values["phone_hmac"] = ring.lookup("phone", r.phone.strip())
            bind.execute(users.update().where(users.c.id == r.id).values(**values))


def _decrypt_users(ring):
    bind = op.get_bind()
    for rows in _batches(users, users.c.username, users.c.role, *(users.c[c] for c in SEALED)):
        for r in rows:
            values = {c: _decrypt(ring, getattr(r, c), f"users.{c}") for c in SEALED
                      if getattr(r, c) is not None and is_ciphertext(getattr(r, c))}
            if r.role == "insured" and values.get("id_number") and PSEUDONYM.match(r.username or ""):
                values["username"] = values["id_number"]  # as before: the ID number is the username
            if values:
                bind.execute(users.update().where(users.c.id == r.id).values(**values))


def _rewrite_filings(ring, *, encrypt: bool):
    bind = op.get_bind()
    for rows in _batches(filings, filings.c.data):
        for r in rows:
            data = dict(r.data or {})
            changed = False
            for field in FILING_FIELDS:
                value, where = data.get(field), f"nhsa_filings.data.{field}"
                if not isinstance(value, str) or not value or is_ciphertext(value) == encrypt:
                    continue
                data[field] = ring.encrypt(value, where) if encrypt else _decrypt(ring, value, where)
                changed = True
            if changed:
                bind.execute(filings.update().where(filings.c.id == r.id).values(data=data))


def _decrypt(ring, token, where):
    from core.kernel.crypto import UnknownKey

    try:
        return ring.decrypt(token, where)
    except UnknownKey as e:
        raise RuntimeError(f"cannot decrypt {where}: {e}") from None
