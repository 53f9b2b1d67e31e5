"""API errors: always JSON, always 4xx for anything a client sent, Chinese messages."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy.exc import DataError
from sqlalchemy.orm.exc import StaleDataError

from core.extensions import db
from core.kernel.errors import ServiceError

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests",
    500: "server_error",
}
MESSAGES = {
    400: "请求有误。", 401: "请先登录。", 403: "您无权进行此操作。", 404: "记录不存在或您无权查看。",
    405: "不支持此请求方法。", 409: "记录已被他人修改,请刷新后重试。", 413: "上传的内容过大。",
    415: "不支持的内容类型。", 422: "提交的内容有误。", 429: "请求过于频繁,请稍后再试。", 500: "系统出现错误,请稍后重试。",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str | None = None, message: str | None = None, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message or MESSAGES.get(status, "请求有误。")
        self.fields = fields or {}
        self.headers = headers or {}


def error_response(status: int, code: str | None = None, message: str | None = None, fields: dict | None = None,
                   headers: dict | None = None):
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message or MESSAGES.get(status, ""),
                      "fields": fields or {}}}
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def from_service(e: ServiceError):
    """A rule's refusal: its message (with the problems it lists, as the page shows them), the
    fields they belong to, and the problems as field ``_``."""
    fields = dict(e.fields)
    message = e.message
    if e.problems:
        fields.setdefault("_", list(e.problems))
        message = with_problems(message, e.problems)
    return error_response(e.status, e.code, message, fields)


def with_problems(message: str, problems) -> str:
    """"申请信息有误:" + problems, or "…重试。" + problems: one sentence a client can show."""
    return message + ("" if message.endswith((":", "\uff1a", "。")) else ":") + ";".join(problems)


def register(bp) -> None:
    """The blueprint's handlers. Errors raised before a view is chosen (unknown URL, 405, 413) go to
    the app's handlers, whose ``error_page`` answers JSON for /api/ paths."""

    @bp.errorhandler(ApiError)
    def _api_error(e):
        db.session.rollback()
        return error_response(e.status, e.code, e.message, e.fields, e.headers)

    @bp.errorhandler(ServiceError)
    def _service(e):
        db.session.rollback()
        return from_service(e)

    @bp.errorhandler(StaleDataError)
    def _stale(e):
        db.session.rollback()
        return error_response(409)

    @bp.errorhandler(DataError)
    def _data(e):
        db.session.rollback()
        return error_response(422, "invalid", "输入的内容不符合要求(过长或格式不对)。")
