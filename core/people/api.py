"""Tokens, registration and the caller's own account (JSON API)."""
from __future__ import annotations

from flask import g, jsonify
from flask_login import current_user

from core.api.blueprint import bp
from core.api.errors import ApiError
from core.api.inputs import Fields, iso, json_body
from core.extensions import db
from core.kernel.roles import DESK_ROLES, Role
from core.kernel.types import INSURED_CATEGORIES, INSURED_SCHEMES
from core.models import User
from core.people import accounts, tokens
from core.people import export as my_data
from core.kernel.errors import ServiceError
from core.people.identity import mask_id, mask_name, mask_phone
from core.people.lookup import find_person
from core.web.context import ctx


@bp.post("/auth/token")
def token():
    f = Fields(json_body())
    username = f.text("username", max_len=64, label="用户名")
    password = f.text("password", max_len=200, label="密码")
    f.done()
    user, message = accounts.authenticate(ctx(), username, password)
    db.session.commit()  # failed attempts count toward the throttle, as on the log-in page
    if user is None:  # one answer for an unknown user, a wrong password and a throttled account
        raise ApiError(401, "unauthorized", message)
    value, row = tokens.issue(ctx(), user)
    db.session.commit()
    return jsonify({"token": value, "token_type": "Bearer", "expires_at": iso(row.expires_at)}), 201


@bp.post("/auth/logout")
def logout():
    tokens.revoke(ctx(), g.api_token)
    db.session.commit()
    return "", 204


@bp.get("/me")
def me():
    return jsonify(person_dict(current_user))


@bp.get("/me/export")
def me_export():
    """A copy of all the caller's own data (PIPL art. 45), as on 个人信息 → 下载我的数据. Audited."""
    body = my_data.my_data(ctx())
    db.session.commit()
    return jsonify(body)


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
    scheme = f.choice("insured_scheme", tuple(INSURED_SCHEMES), required=False, label="参保险种") or "employee"
    f.done()
    # Window or 医保科 staff with their token register at the window (and are told the truth);
    # anyone else registers themselves and gets one answer whether the ID number was new or not.
    at_window = current_user.is_authenticated and current_user.role in DESK_ROLES
    user = accounts.register_insured(ctx(), name=name, id_number=id_number, phone=phone, password=password,
                                     region=region, division=division, insured_category=category, insured_scheme=scheme,
                                     at_window=at_window, public=not at_window)
    db.session.commit()
    if at_window:
        return jsonify(person_dict(user)), 201
    return jsonify({"status": "accepted", "message": accounts.REGISTRATION_ACCEPTED}), 202


def person_dict(user: User) -> dict:
    """The caller's own account: ID and phone masked, as on the pages."""
    return {
        "id": user.id,
        "username": mask_id(user.id_number) if user.role == Role.INSURED and user.id_number else user.username,
        "name": user.name,
        "role": user.role,
        "role_name": Role.label_of(user.role),
        "region": user.region_code,
        "division": user.division_code,
        "hospital": user.hospital_code,
        "office": user.office_code,
        "title": user.title,
        "id_number": mask_id(user.id_number) if user.id_number else None,
        "phone": mask_phone(user.phone) if user.phone else None,
        "insured_category": user.insured_category,
        "insured_scheme": user.insured_scheme if user.role == Role.INSURED else None,
    }


def person_ref(person: User, *, mask: bool = False) -> dict:
    """A person named in another answer (an application, benefits): id, name (masked, 张*, when
    ``mask``: staff reading an application), masked ID number."""
    return {"id": person.id, "name": mask_name(person.name) if mask else person.name,
            "id_number": mask_id(person.id_number)}


def person_named(id_number: str | None, field: str, *, purpose: str) -> User:
    """The insured person staff name by full ID number (in JSON field or header ``field``), through
    the one look-up the pages use; its refusals are reported against ``field``."""
    if not id_number:
        if current_user.role in DESK_ROLES:
            raise ApiError(422, message=f"工作人员须提供参保人身份证号码({field})。", fields={field: "必填"})
    try:
        person = find_person(ctx(), id_number, purpose=purpose)
    except ServiceError as e:
        raise ApiError(e.status, message=e.message, fields={field: e.fields.get("id_number", e.message)}) from None
    return person
