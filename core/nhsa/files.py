"""Reading files that come from the national platform: CSV or JSON, UTF-8 or GB18030.

Accepted shapes: a CSV with a header row; a JSON array of objects; JSON lines (one object per
line); or one JSON object whose ``output``/``data``/``feedetail`` holds the list, as the platform's
own answers do. Every record is returned with its line (CSV, JSON lines) or position (arrays) so
problems can be reported where the user can find them. Anything else is refused with a message.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json

from core.kernel.errors import Invalid

MAX_BYTES = 50 * 1024 * 1024
MAX_RECORDS = 200_000


def decode(raw: bytes) -> str:
    if not raw.strip():
        raise Invalid("文件是空的。")
    if len(raw) > MAX_BYTES:
        raise Invalid(f"文件超过 {MAX_BYTES // (1024 * 1024)} MB。")
    if b"\x00" in raw[:4096]:
        raise Invalid("文件不是文本文件(CSV 或 JSON)。")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid("文件编码无法识别,请使用 UTF-8 或 GBK 编码。")


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def read_records(raw: bytes, list_keys=("data", "feedetail", "list")) -> list[tuple[str, dict]]:
    """(where, record) pairs from a CSV or JSON file; ``where`` is e.g. "第 3 行"."""
    text = decode(raw)
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        records = _json_records(stripped, list_keys)
    else:
        records = _csv_records(text)
    if not records:
        raise Invalid("文件里没有数据行。")
    if len(records) > MAX_RECORDS:
        raise Invalid(f"一个文件最多 {MAX_RECORDS} 行。")
    return records


def _csv_records(text: str) -> list[tuple[str, dict]]:
    """Rows by their line in the file (quoted fields may span lines); blank and # lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header, out = None, []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [h.strip() for h in row]
                if len(set(header)) != len(header) or not all(header):
                    raise Invalid("CSV 表头有空列名或重复列名。")
                continue
            if len(row) != len(header):
                raise Invalid(f"第 {reader.line_num} 行有 {len(row)} 列,表头有 {len(header)} 列。")
            out.append((f"第 {reader.line_num} 行", {h: v.strip() for h, v in zip(header, row)}))
    except csv.Error as e:
        raise Invalid(f"CSV 第 {reader.line_num} 行无法读取:{e}") from None
    return out


def _json_records(text: str, list_keys) -> list[tuple[str, dict]]:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise Invalid("JSON 嵌套层数过多。") from None
    except ValueError:
        return _json_lines(text)
    if isinstance(doc, dict):
        doc = _unwrap(doc, list_keys)
    if isinstance(doc, dict):
        return [("第 1 条", doc)]
    if not isinstance(doc, list):
        raise Invalid("JSON 文件应为对象数组、每行一个对象,或平台应答对象。")
    return [(f"第 {i} 条", item) for i, item in enumerate(doc, start=1)]


def _unwrap(doc: dict, list_keys):
    """The list inside a platform answer ({"output": {"data": [...]}} and the like), if there is one."""
    for key in ("output", "result"):
        if isinstance(doc.get(key), (dict, list)):
            doc = doc[key]
            break
    if isinstance(doc, dict):
        for key in list_keys:
            if isinstance(doc.get(key), list):
                return doc[key]
    return doc


def _json_lines(text: str) -> list[tuple[str, dict]]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"第 {number} 行", json.loads(line)))
        except RecursionError:
            raise Invalid(f"第 {number} 行 JSON 嵌套层数过多。") from None
        except ValueError as e:
            raise Invalid(f"第 {number} 行不是有效的 JSON:{getattr(e, 'msg', e)}。") from None
    return out


def as_text(record: dict) -> dict:
    """Whole numbers in JSON files (codes, flags) become strings, as the platform means them; anything
    else that is not a string (floats, lists, objects) stays as it is and the field checks refuse it."""
    return {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in record.items()}


def text_field(record: dict, name: str) -> str | None:
    """A field that must be a plain string (after ``as_text``), stripped; None when it is anything else."""
    value = record.get(name)
    return value.strip() if isinstance(value, str) else None


def jsonl(messages) -> str:
    """One JSON object per line, Chinese kept readable."""
    return "".join(json.dumps(m, ensure_ascii=False, sort_keys=False) + "\n" for m in messages)
