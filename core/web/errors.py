"""Error pages and request hooks shared by every page (the JSON API answers errors in JSON)."""
from __future__ import annotations

from flask import Flask, render_template, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from core.api.errors import error_response
from core.extensions import db
from core.kernel.errors import ServiceError
from core.web import headers

STALE = "该记录刚刚被他人修改,您的操作未保存。请刷新页面查看最新状态。"
DUPLICATE = "相同的记录刚刚已经保存(可能是重复提交),本次操作未保存。请刷新页面查看最新状态。"


def _rollback() -> None:
    """End the failed unit of work before rendering anything: the error page itself reads the
    database (the signed-in user, the unread count), which a failed flush would refuse."""
    try:
        db.session.rollback()
    except Exception:  # pragma: no cover - a broken connection: the pool replaces it
        db.session.remove()


def error_page(message: str, status: int, problems=None):
    if request.path.startswith("/api/"):  # the JSON API answers errors in JSON, whatever raised them
        return error_response(status, None, message, {"_": list(problems)} if problems else None)
    return render_template("error.html", message=message, problems=problems or [], status=status), status


SESSIONLESS = {"public.healthz", "ops.readyz", "ops.metrics_page", "static", "public.htmx_js"}


def init_app(app: Flask) -> None:
    headers.init_app(app)  # security headers on every response

    @app.before_request
    def _reject_nul_bytes():
        # PostgreSQL text cannot hold NUL; refuse it up front for every input, on every database.
        names = [f.filename or "" for f in request.files.values()]
        if any("\x00" in v for _, values in request.values.lists() for v in values) or any("\x00" in n for n in names):
            return error_page("输入中含有无效字符,请检查后重试。", 400)

    @app.before_request
    def _session_timeout():
        # The API has no session, only bearer tokens; probes, metrics and static files need none (a
        # load balancer polling /healthz would otherwise get a cookie every few seconds).
        if not request.path.startswith("/api/") and request.endpoint not in SESSIONLESS:
            if not session.permanent:  # setting it marks the session changed: the cookie would be re-sent
                session.permanent = True  # PERMANENT_SESSION_LIFETIME is the idle timeout

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return error_page("页面已过期或请求来源无效,请刷新页面后重试。", 400)

    for code, message in (
        (400, "请求有误。"),
        (403, "您无权访问此页面。"),
        (404, "页面或记录不存在,或您无权查看。"),
        (405, "不支持此操作方式。"),
        (413, "上传的内容过大,请压缩后再上传。"),
    ):
        app.register_error_handler(code, lambda e, m=message, c=code: error_page(m, c))

    @app.errorhandler(500)
    def _server_error(e):
        _rollback()
        return error_page("系统出现错误,您的数据未受影响,请稍后重试。", 500)

    @app.errorhandler(IntegrityError)
    def _integrity(e):
        # A unique index refused a row (two identical requests at once): nothing was saved.
        _rollback()
        return error_page(DUPLICATE, 409)

    @app.errorhandler(DataError)
    def _data_error(e):
        # A value the database refuses (too long, out of range): the request was bad, nothing saved.
        _rollback()
        return error_page("输入的内容不符合要求(过长或格式不对),请检查后重试。", 400)

    @app.errorhandler(StaleDataError)
    def _stale(e):
        _rollback()
        return error_page(STALE, 409)

    @app.errorhandler(ServiceError)
    def _service_error(e):
        _rollback()
        return error_page(e.message, e.status, e.problems)
