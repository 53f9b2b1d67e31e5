"""People: insured persons and staff share one account table; the role says which."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date
from functools import cache

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, event, false, inspect, true
from sqlalchemy.orm import Mapped, defer, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from core.extensions import db
from core.kernel.roles import STAFF_ROLES, Role
from core.models.base import EncryptedString, EncryptedText, UTCDateTime, keys_for, lookup_value, utcnow
from core.people.identity import normalise_id


class User(UserMixin, db.Model):
    """ID numbers, phone numbers and addresses are encrypted in the database (``EncryptedString``:
    plaintext here, ciphertext in SQL); ``id_number_hmac`` and ``phone_hmac`` find exact values.
    An insured person's username is a random pseudonym ("p" + 20 hex): they log in with their ID
    number, found through ``id_number_hmac``, so no username (nor audit row) carries an ID number."""

    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_psn_no", "psn_no", unique=True),
        Index("uq_users_id_number_hmac", "id_number_hmac", unique=True),  # one account per ID number
        Index("ix_users_phone_hmac", "phone_hmac"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str | None] = mapped_column(EncryptedString("users.id_number", 255))
    # Set on flush (_lookup_values below); the defaults cover bulk and Core INSERTs.
    id_number_hmac: Mapped[str | None] = mapped_column(String(64), default=lambda c: _lookup_default(c, "id_number"))
    phone: Mapped[str | None] = mapped_column(EncryptedString("users.phone", 255))
    phone_hmac: Mapped[str | None] = mapped_column(String(64), default=lambda c: _lookup_default(c, "phone"))
    region_code: Mapped[str | None] = mapped_column(String(6))
    # Staff scope: a prefecture/district (agency, expert), a hospital (physician, 医保科) or an office.
    division_code: Mapped[str | None] = mapped_column(String(6))
    hospital_code: Mapped[str | None] = mapped_column(String(30))
    office_code: Mapped[str | None] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(String(20))  # physician title, e.g. 副主任医师
    # National platform numbers: 人员编号 of an insured person, 医保医师代码 of a physician/reviewer.
    psn_no: Mapped[str | None] = mapped_column(String(30))  # unique: index uq_users_psn_no
    practitioner_code: Mapped[str | None] = mapped_column(String(30))
    insured_category: Mapped[str | None] = mapped_column(String(10))  # employed / retired
    # employee (职工医保) / resident (城乡居民医保): with the category it decides deductible and ratios.
    insured_scheme: Mapped[str] = mapped_column(String(10), default="employee", server_default="employee")
    address: Mapped[str | None] = mapped_column(EncryptedText("users.address"))
    remote_address: Mapped[str | None] = mapped_column(EncryptedText("users.remote_address"))  # 异地居住地址
    # Channels a person chose for notices besides the in-app inbox (always on).
    notice_sms: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    notice_letter: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_login_at = mapped_column(UTCDateTime, nullable=True)

    @staticmethod
    def pseudonym() -> str:
        """A new insured person's username: random, so it says nothing about who they are."""
        return "p" + secrets.token_hex(10)

    @staticmethod
    def id_number_is(value: str | None):
        """WHERE clause: the account with this ID number (normalised here), through its HMAC."""
        return User.id_number_hmac == lookup_value("id_number", _lookup_form("id_number", value or ""))

    @staticmethod
    def id_number_in(values):
        return User.id_number_hmac.in_([lookup_value("id_number", _lookup_form("id_number", v or "")) for v in values])

    @staticmethod
    def phone_is(value: str | None):
        return User.phone_hmac == lookup_value("phone", _lookup_form("phone", value or ""))

    def set_password(self, password: str) -> None:
        # Werkzeug's default method is scrypt.
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """Flask-Login's session id: the user id plus a stamp of the password hash, so changing the
        password ends every other session of the account."""
        return f"{self.id}:{self.session_stamp()}"

    def session_stamp(self) -> str:
        key = current_app.config["SECRET_KEY"].encode()
        return hmac.new(key, self.password_hash.encode(), hashlib.sha256).hexdigest()[:20]

    @property
    def is_active(self) -> bool:  # Flask-Login: disabled accounts cannot log in
        return bool(self.is_enabled)

    @property
    def role_name(self) -> str:
        return Role.label_of(self.role)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


@cache
def sealed_deferred() -> tuple:
    """Loader options leaving a user's encrypted fields (ID and phone numbers, addresses) unread
    until something uses them: for loads on every request (the signed-in user) and lists that show
    only names. Decrypting them costs more than reading the rest of the row. Built once (after the
    mappers are configured), so statements using them keep one cache key."""
    return (defer(User.id_number), defer(User.phone), defer(User.address), defer(User.remote_address))


def _lookup_form(kind: str, value: str) -> str:
    return normalise_id(value) if kind == "id_number" else value.strip()


def _lookup_default(context, kind: str) -> str | None:
    value = context.get_current_parameters().get(kind)
    return keys_for(context.dialect).ring.lookup(kind, _lookup_form(kind, value)) if value else None


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _lookup_values(mapper, connection, target: User) -> None:
    """Keep the look-up HMACs in step with the ID and phone numbers they stand for (recomputed only
    when the number changed, so an unrelated update never loads or decrypts anything)."""
    state = inspect(target)
    new = state.key is None or not state.has_identity
    ring = keys_for(connection.dialect).ring
    for kind in ("id_number", "phone"):
        if new or state.attrs[kind].history.has_changes():
            value = getattr(target, kind)
            setattr(target, f"{kind}_hmac", ring.lookup(kind, _lookup_form(kind, value)) if value else None)


class InsuredCategoryChange(db.Model):
    """A person's insurance scheme and category (在职/退休, 城乡居民) from ``effective_from`` on.

    History, never edited: a change (retirement) or a correction is a new row; the row in force on a
    day is the one with the latest ``effective_from`` on or before it (the later-recorded row wins
    a tie). The first row (``effective_from`` = ``CATEGORY_EARLIEST``, i.e. as registered) also covers
    any earlier day. ``User.insured_scheme``/``insured_category`` mirror the row in force today."""

    __tablename__ = "insured_category_changes"
    __table_args__ = (Index("ix_insured_category_changes_person", "person_id", "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scheme: Mapped[str] = mapped_column(String(10))  # employee / resident
    category: Mapped[str | None] = mapped_column(String(10))  # employed / retired (employees)
    effective_from: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at = mapped_column(UTCDateTime, default=utcnow)

    recorded_by = relationship("User", foreign_keys=[recorded_by_id])


# The effective date of a person's first category: as registered, before any recorded change.
CATEGORY_EARLIEST = date(2000, 1, 1)


@event.listens_for(InsuredCategoryChange, "before_update")
@event.listens_for(InsuredCategoryChange, "before_delete")
def _history_is_append_only(mapper, connection, target):
    raise PermissionError("参保类别变更记录只能追加;更正请登记新的变更。")
