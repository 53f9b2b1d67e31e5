"""Daily anchors: the chain's last row and hash at the end of each local day.

The ``audit_anchors`` job (``flask --app app jobs run``) or ``flask --app app audit anchors`` writes
one anchor for every finished day that has none, after checking the chain written since the last
anchor; administrators print them or export them (CSV/JSON) from 审计日志 and keep them outside the
system. ``audit verify --anchor FILE`` then holds the chain against the exported anchors: a chain
rewritten since (even by someone holding the audit key) no longer matches them.

An anchor covers the rows written before the day ended (by their time; the row with the latest
time before midnight, never an earlier row than the previous anchor's). Days are the instance's
local days (its default time zone); a day without rows repeats the previous anchor with 0 rows.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from core.audit import audit
from core.audit_chain.seal import lock_chain
from core.audit_chain.verify import Anchor, Report, db_anchors, describe, verify
from core.context import Context
from core.extensions import db
from core.kernel.time import local_date, utcnow
from core.models import AuditAnchor, AuditLog

FORMAT = "mtkit-audit-anchors/1"
FIELDS = ("day", "last_id", "last_hash", "rows", "total")


class ChainBroken(Exception):
    """The chain since the last anchor does not verify: no anchor is written over it."""

    def __init__(self, message: str, report: Report):
        super().__init__(message)
        self.report = report


def make_due(ctx: Context) -> tuple[list[AuditAnchor], Report]:
    """Write the anchors of every finished day that has none. The caller commits.

    Refuses (``ChainBroken``, with an audit row ``audit.anchor_refused`` committed) when the chain
    written since the last anchor does not verify: an anchor must never seal a tampered chain."""
    tz = ctx.regions.default_timezone
    last = db.session.scalar(select(AuditAnchor).order_by(AuditAnchor.day.desc()).limit(1))
    report = verify(ctx, start_id=last.last_id if last else None, anchors=db_anchors()[-1:])
    if not report.ok:
        message = describe(ctx, report)
        db.session.rollback()
        audit(ctx, "audit.anchor_refused", result="failed", detail=message[:1000])
        db.session.commit()
        raise ChainBroken(message, report)
    lock_chain(db.session.connection())  # no audit row is between its flush and its commit while we read
    today = local_date(utcnow(), tz)
    if last is not None:
        day, prev_id, total = last.day + timedelta(days=1), last.last_id, last.total
    else:
        first_at = db.session.scalar(select(func.min(AuditLog.at)))
        if first_at is None:
            return [], report
        day, prev_id, total = local_date(first_at, tz), 0, 0
    made = []
    while day < today:
        end = datetime.combine(day + timedelta(days=1), time.min, ZoneInfo(tz)).astimezone(timezone.utc)
        last_id = db.session.scalar(
            select(AuditLog.id).where(AuditLog.at < end).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(1)) or 0
        last_id = max(last_id, prev_id)
        if last_id:
            rows = db.session.scalar(select(func.count()).select_from(AuditLog)
                                     .where(AuditLog.id > prev_id, AuditLog.id <= last_id)) or 0
            total += rows
            anchor = AuditAnchor(day=day, last_id=last_id, last_hash=db.session.get(AuditLog, last_id).row_hash,
                                 rows=rows, total=total)
            db.session.add(anchor)
            made.append(anchor)
            prev_id = last_id
        day += timedelta(days=1)
    db.session.flush()
    return made, report


def job(ctx: Context, run) -> None:
    """The daily job: anchor yesterday (and any day missed)."""
    made, report = make_due(ctx)
    db.session.commit()
    run.processed, run.changed = report.checked, len(made)


def listing(since: date | None = None, until: date | None = None, limit: int | None = None) -> list[AuditAnchor]:
    """Anchors, newest first."""
    q = select(AuditAnchor).order_by(AuditAnchor.day.desc())
    if since:
        q = q.where(AuditAnchor.day >= since)
    if until:
        q = q.where(AuditAnchor.day <= until)
    return list(db.session.scalars(q.limit(limit) if limit else q))


def to_csv(anchors: list[AuditAnchor]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for a in sorted(anchors, key=lambda a: a.day):
        writer.writerow([a.day.isoformat(), a.last_id, a.last_hash, a.rows, a.total])
    return out.getvalue()


def to_json(anchors: list[AuditAnchor]) -> str:
    return json.dumps({
        "format": FORMAT,
        "exported_at": utcnow().isoformat(timespec="seconds"),
        "anchors": [{"day": a.day.isoformat(), "last_id": a.last_id, "last_hash": a.last_hash, "rows": a.rows,
                     "total": a.total} for a in sorted(anchors, key=lambda a: a.day)],
    }, ensure_ascii=False, indent=1) + "\n"


def parse(text: str, source: str) -> list[Anchor]:
    """Anchors from an exported CSV or JSON file. Raises ValueError (in Chinese) on anything else."""
    text = text.lstrip("\ufeff").strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError("不是 mtkit 导出的审计锚点文件")
            items = data["anchors"]
        else:
            items = list(csv.DictReader(io.StringIO(text)))
            if not items or set(FIELDS) - set(items[0]):
                raise ValueError("CSV 缺少列 " + ",".join(FIELDS))
        anchors = [Anchor(date.fromisoformat(str(i["day"])), int(i["last_id"]), str(i["last_hash"]).strip().lower(),
                          int(i["total"]) if str(i.get("total", "")).strip() else None, source) for i in items]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"锚点文件 {source} 无法读取:{exc}") from None
    if not anchors:
        raise ValueError(f"锚点文件 {source} 中没有锚点")
    return anchors
