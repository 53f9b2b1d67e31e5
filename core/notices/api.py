"""The caller's inbox (JSON API)."""
from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from core.api.blueprint import bp
from core.api.inputs import iso, query_int
from core.notices import service


@bp.get("/notices")
def notices():
    rows, next_before = service.page(current_user, query_int("before"))
    items = [
        {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "application_id": n.application_id,
         "created_at": iso(n.created_at), "read": n.read_at is not None}
        for n in rows
    ]
    return jsonify({"items": items, "next_before": next_before})
