"""National-platform exports (2503/2504) done by the worker: the page queues one, the file of
message lines is downloaded from the task's page when ready. ``export_2503``/``export_2504``
(filings.py) stay the one rule, called here and by `flask nhsa export-...`."""
from __future__ import annotations

from datetime import date

from core.context import Context
from core.kernel.errors import Invalid
from core.nhsa import filings
from core.nhsa.files import jsonl
from core.queue import results

KIND = "nhsa_export"
SHOWN_PROBLEMS = 20


def request_export(ctx: Context, kind: str, region: str, since: date | None, new_only: bool):
    """Queue an export the caller checked ``region`` for; the worker records and writes it."""
    if kind not in ("2503", "2504"):
        raise Invalid("请选择 2503 或 2504。", status=400)
    if kind == "2503" and since is None:
        raise Invalid("请填写起始日期。")
    filings.check_since(since)
    return results.request(ctx, KIND, {"kind": kind, "region": region, "since": since.isoformat() if since else None,
                                       "new_only": new_only})


def export_file(ctx: Context, params: dict) -> results.Made:
    since = date.fromisoformat(params["since"]) if params.get("since") else None
    fn = filings.export_2503 if params["kind"] == "2503" else filings.export_2504
    out = fn(ctx, since, params["region"], new_only=bool(params.get("new_only")))
    name = f"nhsa-{out.kind}-{params['region']}-{params.get('since') or 'all'}.jsonl"
    message = f"已导出 {len(out.messages)} 条 {out.kind} 报文。"
    if out.problems:
        shown = ";".join(out.problems[:SHOWN_PROBLEMS]) + (" 等" if len(out.problems) > SHOWN_PROBLEMS else "")
        message += f"{len(out.problems)} 条未通过校验,未导出:{shown}"
    return results.Made(message, name, "application/x-ndjson", jsonl(out.messages).encode())
