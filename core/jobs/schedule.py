"""Which scheduled jobs exist, in the order ``jobs run`` runs them."""
from __future__ import annotations

from core import idempotency
from core.audit_chain import anchors as audit_anchors
from core.context import Context
from core.extensions import db
from core.jobs import deadlines, expiry, reminders
from core.jobs.runner import Job, Progress
from core.notices.delivery import deliver_due
from core.queue import results


def deliver_notices(ctx: Context, run: Progress) -> None:
    def progress(n):
        run.processed = n
        run.progress("(短信)")

    attempted, sent = deliver_due(ctx, progress=progress)
    run.processed, run.changed = attempted, sent


def result_purge(ctx: Context, run: Progress) -> None:
    def progress(n):
        run.processed = n
        run.progress("(文件)")

    run.processed = run.changed = results.purge(ctx, progress=progress)


def idempotency_purge(ctx: Context, run: Progress) -> None:
    run.processed = run.changed = idempotency.purge(ctx)
    db.session.commit()


JOBS: dict[str, Job] = {j.name: j for j in (
    Job("renewal_reminders", "续办提醒", reminders.renewal_reminders, about="到期前按地区设置的天数提醒参保人"),
    Job("expiry_sweep", "到期处理", expiry.expiry_sweep, about="逾期未补正的申请关闭;到期未续办的认定改为已到期"),
    Job("sla_reminders", "审核时限提醒", deadlines.sla_reminders, about="每天给办理人员发送超时和即将到期的申请清单"),
    Job("result_notice_deadline", "结果通知时限", deadlines.result_notice_deadline,
        about="结果通知环节到期未办的,提醒本地区管理员督办"),
    Job("audit_anchors", "审计锚点", audit_anchors.job, about="核验新写入的审计记录,并记下每天最后一条记录的哈希"),
    Job("idempotency_purge", "清理过期的提交编号", idempotency_purge, about="防重复提交的记录,超过有效期后不再需要"),
    Job("result_purge", "清理生成的文件", result_purge,
        about="打印信件、国家平台报文等生成的文件含有姓名、地址,保存期限过后删除(可重新生成)"),
    Job("deliver_notices", "发送短信", deliver_notices, every_minutes=5, about="待发送和到了重试时间的短信"),
)}


def title_of(name: str) -> str:
    """The Chinese name pages show for a job (its technical name only as small print for operators)."""
    job = JOBS.get(name)
    return job.title if job else name
