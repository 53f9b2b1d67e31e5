"""Walk the audit chain, recompute every row's hash and name the first row that does not match.

What each finding means:
- a row whose content no longer matches its hash was edited after it was written, or was inserted
  by someone without the audit key (a forged row);
- a row whose ``prev_hash`` is not the previous row's hash follows a gap: rows between them were
  deleted, or the previous row was replaced;
- a row without a hash did not come through the application;
- an anchor (kept in the database, or exported and kept elsewhere) whose row is missing or whose
  hash differs shows the chain up to it was rewritten, even by someone holding the key.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from core.audit_chain.seal import GENESIS, canonical, keyring
from core.context import Context
from core.extensions import db
from core.kernel.time import local_time
from core.models import AuditAnchor, AuditLog

BATCH = 5000
COLUMNS = (AuditLog.id, AuditLog.at, AuditLog.user_id, AuditLog.username, AuditLog.action, AuditLog.object_type,
           AuditLog.object_id, AuditLog.result, AuditLog.ip, AuditLog.detail, AuditLog.prev_hash, AuditLog.row_hash,
           AuditLog.hash_alg, AuditLog.key_id)


@dataclass(frozen=True)
class Anchor:
    """A checkpoint to hold the chain against: from the audit_anchors table or an exported file."""
    day: date
    last_id: int
    last_hash: str
    total: int | None
    source: str  # "数据库" or the file's name


@dataclass(frozen=True)
class Problem:
    kind: str  # edited / unsigned / unknown_key / link / anchor_hash / anchor_total / anchor_missing
    reason: str  # what it means, in Chinese
    row_id: int | None = None
    at: datetime | None = None
    action: str | None = None


@dataclass(frozen=True)
class Report:
    checked: int  # rows walked
    first_id: int | None
    last_id: int | None
    last_hash: str | None
    anchors_checked: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def db_anchors() -> list[Anchor]:
    return [Anchor(a.day, a.last_id, a.last_hash, a.total, "数据库")
            for a in db.session.scalars(select(AuditAnchor).order_by(AuditAnchor.day))]


def first_id_on_or_after(ctx: Context, day: date) -> int | None:
    start = datetime.combine(day, time.min, ZoneInfo(ctx.regions.default_timezone)).astimezone(timezone.utc)
    return db.session.scalar(select(func.min(AuditLog.id)).where(AuditLog.at >= start))


def verify(ctx: Context, *, start_id: int | None = None, anchors: list[Anchor] = ()) -> Report:
    """Check the chain from ``start_id`` (default: the first row) to the end against ``anchors``."""
    ring = keyring(ctx.settings)
    if start_id:
        before = db.session.execute(select(AuditLog.id, AuditLog.row_hash).where(AuditLog.id < start_id)
                                    .order_by(AuditLog.id.desc()).limit(1)).first()
        expected_prev, prev_id = (before.row_hash, before.id) if before else (GENESIS, None)
        count = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.id < start_id)) or 0
    else:
        expected_prev, prev_id, count = GENESIS, None, 0
    by_row: dict[int, list[Anchor]] = {}
    for a in anchors:
        if not start_id or a.last_id >= start_id:
            by_row.setdefault(a.last_id, []).append(a)
    checked, first_id, last_hash, seen = 0, None, None, 0
    cursor = (start_id or 1) - 1
    while True:
        rows = db.session.execute(select(*COLUMNS).where(AuditLog.id > cursor).order_by(AuditLog.id).limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            checked += 1
            count += 1
            first_id = first_id or row.id
            problem = _check_row(ring, row, expected_prev, prev_id)
            for a in by_row.pop(row.id, ()):
                seen += 1
                problem = problem or _check_anchor(a, row, count)
            if problem:
                return Report(checked, first_id, row.id, last_hash, seen, problem)
            expected_prev, prev_id, last_hash = row.row_hash, row.id, row.row_hash
        cursor = rows[-1].id
    missing = min((a for group in by_row.values() for a in group), key=lambda a: a.last_id, default=None)
    if missing is not None:
        return Report(checked, first_id, prev_id, last_hash, seen, Problem(
            "anchor_missing", f"锚点 {missing.day}({missing.source})指向的记录 #{missing.last_id} 不存在:"
            "该记录被删除了(若它在链尾,其后的记录也被删除了)。", missing.last_id))
    return Report(checked, first_id, prev_id, last_hash, seen, None)


def _check_row(ring, row, expected_prev: str, prev_id: int | None) -> Problem | None:
    def problem(kind, reason):
        return Problem(kind, reason, row.id, row.at, row.action)

    if not row.row_hash:
        return problem("unsigned", "这条记录没有哈希:它不是经应用写入的,是绕过应用插入的伪造记录。")
    expected = ring.sign(canonical(row), row.hash_alg, row.key_id)
    if expected is None:
        return problem("unknown_key", f"这条记录由密钥 {row.key_id}({row.hash_alg})签名,但当前配置里没有这把密钥:"
                       "请把旧密钥加回 MTKIT_AUDIT_KEY(放在当前密钥之后)再核验。")
    if expected != row.row_hash:
        return problem("edited", "记录内容与其哈希不符:这条记录写入后被修改过(如用户、IP、操作、时间),"
                       "或是没有审计密钥的人伪造的。")
    if row.prev_hash != expected_prev:
        if prev_id is None:
            return problem("link", "链的第一条记录不是从头开始的:在它之前的记录被删除了。")
        gap = "" if row.id == prev_id + 1 else (f"(#{prev_id + 1} 缺失)" if row.id == prev_id + 2
                                                  else f"(#{prev_id + 1}–#{row.id - 1} 缺失)")
        return problem("link", f"与上一条记录 #{prev_id} 的链接不符{gap}:两者之间的记录被删除了,"
                       "或上一条记录被替换、插入过。")
    return None


def _check_anchor(a: Anchor, row, count: int) -> Problem | None:
    if a.last_hash != row.row_hash:
        return Problem("anchor_hash", f"锚点 {a.day}({a.source})记载记录 #{a.last_id} 的哈希为 {a.last_hash[:16]}…,"
                       f"而链中为 {row.row_hash[:16]}…:截至这条记录的审计链被改写并重新计算过。", row.id, row.at, row.action)
    if a.total is not None and a.total != count:
        return Problem("anchor_total", f"锚点 {a.day}({a.source})记载截至记录 #{a.last_id} 共 {a.total} 条,"
                       f"而链中为 {count} 条:此前有记录被删除或插入。", row.id, row.at, row.action)
    return None


def describe(ctx: Context, report: Report) -> str:
    """The report as one or two lines for people (CLI, job detail)."""
    if report.ok:
        if not report.checked:
            return "审计链为空:没有审计记录。"
        return (f"审计链完整:核验 {report.checked:,} 条记录(#{report.first_id}–#{report.last_id}),"
                f"{report.anchors_checked} 个锚点相符;最后一条的哈希 {report.last_hash}")
    p = report.problem
    where = f"记录 #{p.row_id}" if p.row_id is not None else "审计链"
    if p.at is not None:
        where += f"({local_time(p.at, ctx.regions.default_timezone, '%Y-%m-%d %H:%M:%S.%f %z')},{p.action})"
    return f"审计链不符,第一处问题在{where}:{p.reason}"
