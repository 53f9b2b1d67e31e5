"""Field-encryption keys in use: which key each stored value is under, re-encryption with the active
key, and a new HMAC look-up key. The key file itself is read and written by ``core.config``; the
command line (``core/keys/cli.py``) calls these.

The encrypted columns are found from the models (every ``EncryptedString`` / ``EncryptedFields``
column), and read and written here as raw text, never through the model types.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.crypto import KeyProblem, KeyRing, Undecryptable, is_ciphertext, key_id_of
from core.models.base import EncryptedFields, EncryptedString, Keys
from core.people.identity import normalise_id

BATCH = 500
PLAINTEXT = "(未加密)"


@dataclass(frozen=True)
class Place:
    """One encrypted place: a text column, or a field of a JSON column."""

    table: str
    column: str
    field: str | None = None

    @property
    def where(self) -> str:  # the associated data the values are bound to
        return f"{self.table}.{self.column}" + (f".{self.field}" if self.field else "")


def places() -> list[Place]:
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                found.append(Place(table.name, column.name))
            elif isinstance(column.type, EncryptedFields):
                found += [Place(table.name, column.name, f) for f in column.type.fields]
    return found


def _raw(place: Place) -> sa.TableClause:
    kind = sa.JSON if place.field else sa.Text
    return sa.table(place.table, sa.column("id", sa.Integer), sa.column(place.column, kind))


def _rows(place: Place, after: int = 0, size: int = BATCH):
    t = _raw(place)
    col = t.c[place.column]
    return db.session.execute(
        sa.select(t.c.id, col).where(t.c.id > after, col.is_not(None)).order_by(t.c.id).limit(size)
    ).all()


def _values(place: Place, stored):
    """The encrypted-or-not text of ``place`` in a stored column value."""
    if place.field is None:
        return stored
    return stored.get(place.field) if isinstance(stored, dict) else None


def status() -> dict[str, Counter]:
    """For every encrypted place: how many values each key id holds, and any left unencrypted."""
    out: dict[str, Counter] = {}
    for place in places():
        counts: Counter = Counter()
        after = 0
        while rows := _rows(place, after):
            for row in rows:
                value = _values(place, row[1])
                if isinstance(value, str) and value:
                    counts[key_id_of(value) if is_ciphertext(value) else PLAINTEXT] += 1
            after = rows[-1][0]
        out[place.where] = counts
    return out


def in_use(kid: str) -> int:
    return sum(c.get(kid, 0) for c in status().values())


def reencrypt(ctx: Context, keys: Keys, *, size: int = BATCH, progress: Callable[[str, int], None] | None = None) -> dict:
    """Rewrite every value not under the active key with the active key, a batch at a time (each
    committed: stopped midway, a second run goes on where it stopped). A value the app changed
    meanwhile is left as the app wrote it (compare-and-set on the old ciphertext). Audited."""
    ring = keys.ring
    audit(ctx, "keys.reencrypt", None, result="started", detail=f"active={ring.active}")
    db.session.commit()
    done: dict[str, int] = {}
    for place in places():
        t = _raw(place)
        col = t.c[place.column]
        count, after = 0, 0
        while rows := _rows(place, after, size):
            for row_id, stored in rows:
                value = _values(place, stored)
                if not isinstance(value, str) or not value or (is_ciphertext(value) and key_id_of(value) == ring.active):
                    continue
                plain = keys.decrypt(value, place.where) if is_ciphertext(value) else value
                fresh = ring.encrypt(plain, place.where)
                if place.field:  # a filing's message never changes once exported: no race to guard
                    result = db.session.execute(t.update().where(t.c.id == row_id).values({place.column: {**stored, place.field: fresh}}))
                else:
                    result = db.session.execute(
                        t.update().where(t.c.id == row_id, col == value).values({place.column: fresh}))
                count += result.rowcount
            db.session.commit()
            after = rows[-1][0]
            if progress:
                progress(place.where, count)
        done[place.where] = count
    audit(ctx, "keys.reencrypt", None, detail=f"active={ring.active} " + " ".join(f"{k}={v}" for k, v in done.items()))
    db.session.commit()
    return done


def recompute_lookups(ctx: Context, keys: Keys, new: KeyRing) -> int:
    """Every look-up HMAC again with ``new``'s look-up key, in the caller's one transaction (the
    app must be stopped: look-ups made meanwhile would use the old key). Returns the rows changed."""
    t = sa.table("users", sa.column("id", sa.Integer), sa.column("id_number", sa.Text), sa.column("phone", sa.Text),
                 sa.column("id_number_hmac", sa.String), sa.column("phone_hmac", sa.String))
    changed, after = 0, 0
    while rows := db.session.execute(sa.select(t.c.id, t.c.id_number, t.c.phone).where(t.c.id > after)
                                     .order_by(t.c.id).limit(BATCH)).all():
        for row_id, id_number, phone in rows:
            values = {}
            if id_number:
                values["id_number_hmac"] = new.lookup("id_number", normalise_id(keys.decrypt(id_number, "users.id_number")))
            if phone:
                values["phone_hmac"] = new.lookup("phone", keys.decrypt(phone, "users.phone").strip())
            if values:
                db.session.execute(t.update().where(t.c.id == row_id).values(values))
                changed += 1
        after = rows[-1][0]
    audit(ctx, "keys.rotate_lookup", None, detail=f"rows={changed}")
    return changed


def check_readable(keys: Keys, sample: int = 50) -> list[str]:
    """A few stored values per place, decrypted: the key file matches the database (or not)."""
    problems = []
    for place in places():
        for _, stored in _rows(place, 0, sample):
            value = _values(place, stored)
            if isinstance(value, str) and is_ciphertext(value):
                try:
                    keys.decrypt(value, place.where)
                except (Undecryptable, KeyProblem) as e:
                    problems.append(f"{place.where}: {e}")
                    break
    return problems

