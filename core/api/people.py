"""Tokens, registration, the caller's own account and inbox."""
from __future__ import annotations

from flask import g, jsonify
from flask_login import current_user
from sqlalchemy import select

from core.api import bp
from core.api.errors import ApiError
from core.api.inputs import Fields, iso, json_body, query_int
from core.extensions import db
from core.models import ROLES, Notice, User
from core.models.base import utcnow
from core.services import accounts, tokens
from core.services.identity import mask_id, mask_phone, normalise_id
from core.types import INSURED_CATEGORIES


@bp.post("/auth/token")
def token():
    f = Fields(json_body())
    username = f.text("username", max_len=64, label="用户名")
    password = f.text("password", max_len=200, label="密码")
    f.done()
    user, message = accounts.authenticate(username, password)
    if user is None:
        db.session.commit()  # failed attempts count toward the lockout, as on the log-in page
        lookup = normalise_id(username) if username[:17].isdigit() else username
        locked = db.session.scalar(select(User.locked_until).where(User.username == lookup))
        if locked is not None and locked > utcnow():
            retry = max(1, int((locked - utcnow()).total_seconds()))
            raise ApiError(429, "locked", message, headers={"Retry-After": str(retry)})
        raise ApiError(401, "unauthorized", message)
    value, row = tokens.issue(user)
    db.session.commit()
    return jsonify({"token": value, "token_type": "Bearer", "expires_at": iso(row.expires_at)}), 201


@bp.post("/auth/logout")
def logout():
    tokens.revoke(g.api_token)
    db.session.commit()
    return "", 204


@bp.get("/me")
def me():
    return jsonify(person_dict(current_user))


@bp.post("/persons")
def register():
    f = Fields(json_body())
    name = f.text("name", max_len=30, label="姓名")
    id_number = f.text("id_number", max_len=18, label="身份证号码")
    phone = f.text("phone", max_len=20, label="手机号")
    password = f.text("password", max_len=200, label="密码")
    region = f.text("region", max_len=6, label="参保地区")
    division = f.text("division", max_len=6, label="参保区县")
    category = f.choice("insured_category", tuple(INSURED_CATEGORIES), required=False, label="人员类别") or "employed"
    f.done()
    user = accounts.register_insured(name=name, id_number=id_number, phone=phone, password=password, region=region,
                                     division=division, insured_category=category)
    db.session.commit()
    return jsonify(person_dict(user)), 201


@bp.get("/notices")
def notices():
    before = query_int("before")
    query = select(Notice).where(Notice.user_id == current_user.id)
    if before:
        query = query.where(Notice.id < before)
    rows = db.session.scalars(query.order_by(Notice.id.desc()).limit(51)).all()
    items = [
        {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "application_id": n.application_id,
         "created_at": iso(n.created_at), "read": n.read_at is not None}
        for n in rows[:50]
    ]
    return jsonify({"items": items, "next_before": rows[49].id if len(rows) > 50 else None})


def person_dict(user: User) -> dict:
    """The caller's own account: ID and phone masked, as on the pages."""
    return {
        "id": user.id,
        "username": mask_id(user.username) if user.role == "insured" else user.username,
        "name": user.name,
        "role": user.role,
        "role_name": ROLES.get(user.role, user.role),
        "region": user.region_code,
        "division": user.division_code,
        "hospital": user.hospital_code,
        "office": user.office_code,
        "title": user.title,
        "id_number": mask_id(user.id_number) if user.id_number else None,
        "phone": mask_phone(user.phone) if user.phone else None,
        "insured_category": user.insured_category,
    }
