"""Reading API input: a JSON object with typed fields, or a clear 4xx naming each bad field."""
from __future__ import annotations

import json
import re
from datetime import date

from flask import request

from core.api.errors import ApiError
from core.models.base import MAX_ID

MAX_TEXT = 2000
# No request body of this API needs more: an object holding objects of strings (results, items).
MAX_JSON_DEPTH = 8
MAX_JSON_BYTES = 256 * 1024
# A JSON string (escapes included) or a bracket: enough to count nesting without parsing.
# An unterminated string runs to the end, so no match is ever retried from a later quote (linear time).
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
_ASCII_NUMBER = re.compile(r"[0-9]{1,10}", re.ASCII)


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` nests arrays/objects deeper than ``limit`` (strings are skipped, so brackets
    inside them do not count). Checked before parsing: a parser recursing through '[' * 100000
    would run out of stack."""
    depth = 0
    for token in _JSON_TOKEN.finditer(raw):
        t = token.group()
        if t in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif t in (b"]", b"}"):
            depth -= 1
    return False


def json_body() -> dict:
    """The request's JSON object. Too large, too deeply nested or not JSON: a 4xx in Chinese,
    never a parser's crash."""
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, message="请求体须为 JSON(Content-Type: application/json)。")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise ApiError(413, message=f"请求体过大(JSON 最多 {MAX_JSON_BYTES // 1024} KB)。")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, message=f"请求体过大(JSON 最多 {MAX_JSON_BYTES // 1024} KB)。")
    if json_depth_exceeds(raw):
        raise ApiError(400, message=f"请求体的 JSON 嵌套层数过多(最多 {MAX_JSON_DEPTH} 层)。")
    try:
        data = json.loads(raw)
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise ApiError(400, message="请求体的 JSON 嵌套层数过多。") from None
    except ValueError:  # not JSON, or not UTF-8
        raise ApiError(400, message="请求体不是有效的 JSON。") from None
    if not isinstance(data, dict):
        raise ApiError(422, message="请求体须为 JSON 对象。")
    return data


class Fields:
    """Collects every problem of a request body before answering, so a client fixes them at once."""

    def __init__(self, data: dict):
        self.data = data
        self.problems: dict[str, str] = {}

    def text(self, name: str, *, required: bool = True, max_len: int = 200, label: str = "") -> str | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problems[name] = f"请填写{label or name}。"
            return None
        if not isinstance(value, str):
            self.problems[name] = f"{label or name}须为字符串。"
            return None
        if len(value) > max_len or "\x00" in value:
            self.problems[name] = f"{label or name}过长或含有无效字符(最多 {max_len} 个字符)。"
            return None
        return value.strip()

    def integer(self, name: str, *, required: bool = True, label: str = "") -> int | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problems[name] = f"请提供{label or name}。"
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not (0 < value <= MAX_ID):
            self.problems[name] = f"{label or name}须为正整数。"
            return None
        return value

    def choice(self, name: str, choices, *, required: bool = True, label: str = "") -> str | None:
        value = self.text(name, required=required, max_len=40, label=label)
        if value is not None and value not in choices:
            self.problems[name] = f"{label or name}须为以下之一:{'、'.join(choices)}。"
            return None
        return value

    def codes(self, name: str, *, required: bool = True, label: str = "", max_items: int = 20) -> list[str]:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problems[name] = f"请提供{label or name}。"
            return []
        if (not isinstance(value, list) or not value or len(value) > max_items
                or not all(isinstance(v, str) and 0 < len(v) <= 30 and "\x00" not in v for v in value)):
            self.problems[name] = f"{label or name}须为 1–{max_items} 个编码组成的数组。"
            return []
        return value

    def mapping(self, name: str, *, values=None, label: str = "") -> dict[str, str]:
        value = self.data.get(name)
        if value is None:
            return {}
        if (not isinstance(value, dict) or len(value) > 50
                or not all(isinstance(k, str) and len(k) <= 30 and isinstance(v, str) and len(v) <= 1000
                           and "\x00" not in k + v for k, v in value.items())):
            self.problems[name] = f"{label or name}须为「编码: 文本」的对象。"
            return {}
        if values is not None and any(v not in values for v in value.values()):
            self.problems[name] = f"{label or name}的取值须为:{'、'.join(values)}。"
            return {}
        return value

    def done(self) -> None:
        if self.problems:
            raise ApiError(422, message="提交的内容有误:" + ";".join(self.problems.values()), fields=self.problems)


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header, if sent (the service checks its form: 8–100 of A-Z a-z 0-9 _ . : -)."""
    return request.headers.get(IDEMPOTENCY_HEADER) or None


def query_int(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    # ASCII digits only: str.isdigit() accepts "²" and other scripts' digits, which int() then refuses.
    if not _ASCII_NUMBER.fullmatch(raw) or not (0 < int(raw) <= MAX_ID):
        raise ApiError(400, message=f"参数 {name} 须为正整数。", fields={name: "须为正整数"})
    return int(raw)


def query_year(default: int) -> int:
    raw = request.args.get("year")
    if raw is None or raw == "":
        return default
    if not _ASCII_NUMBER.fullmatch(raw) or not (2000 <= int(raw) <= 2100):
        raise ApiError(400, message="参数 year 须为 2000–2100 的年份。", fields={"year": "须为年份"})
    return int(raw)


def iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value.isoformat()
    return value.isoformat()
