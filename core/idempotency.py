"""Idempotency: a record-creating action repeated with the same key takes effect once.

A page form carries a one-time key (a hidden field made when the form is drawn); an API call sends
an ``Idempotency-Key`` header; an import uses its file's digest. The action's service calls ``claim``
first, before any other write of its transaction:

- the first request with a key inserts (scope, key) into ``idempotency_keys`` and, once it has made
  its records, ``record``s them there, all in the one transaction that also writes the records;
- a repeat (the same key again, in a row or at the same time) meets the UNIQUE constraint: it waits
  for the first request's transaction (PostgreSQL blocks on the index entry, SQLite on its write
  lock), rolls back and answers with the first request's records (``Claim.first``). It never
  writes anything itself. If the first request failed, nothing of it was kept, and the repeat runs;
- the same key with other content is refused (422): a key names one request, not a slot to reuse.

Keys a client chooses are scoped to the acting user, so nobody can read another's result through a
guessed key. Keys expire after ``MTKIT_IDEMPOTENCY_HOURS`` (24); after that the key may be used
again and its row is only history (``purge`` deletes them, daily job ``idempotency_purge``). A
digest kept for good (``expires=False``) refuses the same file forever.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.context import Context
from core.extensions import db
from core.kernel.errors import Conflict, Invalid, NotFound
from core.kernel.time import utcnow
from core.models import IdempotencyKey

KEY = re.compile(r"[A-Za-z0-9_.:-]{8,100}", re.ASCII)
BAD_KEY = "提交编号(Idempotency-Key)无效:须为 8–100 个英文字母、数字或 _ . : -。请刷新页面后重新提交。"
REUSED = "该提交编号(Idempotency-Key)已用于另一笔内容不同的提交,本次未保存。请刷新页面后重新填写;API 调用请为新请求使用新的编号。"
IN_PROGRESS = "相同的提交正在处理中,请稍后刷新页面查看结果,不要再次提交。"
DEFAULT_HOURS = 24
_ATTEMPTS = 3
_REPEAT = "_mtkit_idempotent_repeat"


@dataclass
class Claim:
    """What ``claim`` found: ``row`` is ours to ``record`` on; ``first`` is the first request's
    stored result when this request repeats it; neither when no key was given."""

    row: IdempotencyKey | None = None
    first: dict | None = None

    @property
    def repeated(self) -> bool:
        return self.first is not None


def fingerprint(payload) -> str:
    """sha256 of the request's content in a canonical form (sorted keys, values as text)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_key(key) -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise Invalid(BAD_KEY, status=400, fields={"idempotency_key": "格式无效"})
    return key


def claim(ctx: Context, action: str, key: str | None, payload, *, per_actor: bool = True, expires: bool = True) -> Claim:
    """Take ``key`` for ``action`` in the current transaction, or find the request that took it.

    Call it before anything else of the action writes: a repeat rolls the transaction back.
    Raises Invalid (a malformed key; the key used for other content) or Conflict (the first request
    committed without recording a result, which the services here never do)."""
    if key is None or key == "":
        return Claim()
    key = check_key(key)
    scope = f"{action}:u{ctx.actor_id or 0}" if per_actor else action
    digest = fingerprint(payload)
    for _ in range(_ATTEMPTS):
        now = utcnow()
        hours = ctx.settings.get("MTKIT_IDEMPOTENCY_HOURS", DEFAULT_HOURS)
        row = IdempotencyKey(scope=scope, key=key, fingerprint=digest, actor_id=ctx.actor_id, created_at=now,
                             expires_at=now + timedelta(hours=hours) if expires else None)
        db.session.add(row)
        try:
            db.session.flush()
            return Claim(row=row)
        except IntegrityError:  # taken: by a request that has committed by now (we waited for it)
            db.session.rollback()
        first = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
        if first is None:
            continue  # removed meanwhile (purged): take it again
        if first.expires_at is not None and first.expires_at <= now:
            # An expired key is free again: its row goes in the same transaction that takes it anew.
            db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == first.id))
            continue
        if first.fingerprint != digest:
            raise Invalid(REUSED, fields={"idempotency_key": "已用于内容不同的提交"})
        if first.result is None:
            raise Conflict(IN_PROGRESS)
        return Claim(first=first.result)
    raise Conflict(IN_PROGRESS)


def record(claim_: Claim, *rows, summary: dict | None = None) -> None:
    """Store what the claimed request created (rows of one table, or an import's summary)."""
    if claim_.row is None:
        return
    result: dict = {}
    if rows:
        result = {"table": rows[0].__tablename__, "ids": [r.id for r in rows]}
    if summary is not None:
        result["summary"] = summary
    claim_.row.result = result


def first_rows(claim_: Claim, model) -> list:
    """The rows the first request created, marked as repeats (``is_repeat``)."""
    first = claim_.first or {}
    if first.get("table") != model.__tablename__:
        raise NotFound("重复提交的原结果不存在。")
    rows = [db.session.get(model, i) for i in first.get("ids", [])]
    if not rows or any(r is None for r in rows):
        raise NotFound("重复提交的原结果不存在。")
    for r in rows:
        setattr(r, _REPEAT, True)
    return rows


def is_repeat(row) -> bool:
    """Whether ``row`` was answered to a repeated request (nothing new was written)."""
    return bool(getattr(row, _REPEAT, False))


def purge(ctx: Context) -> int:
    """Delete expired keys (never the digests kept for good). Returns how many."""
    result = db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at.is_not(None), IdempotencyKey.expires_at <= utcnow())
    )
    return result.rowcount or 0
